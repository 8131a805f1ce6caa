"""``hub outbox``: an agency's own database as its door to the hub (gateway.outbox)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from hub.core.config import Settings
from hub.core.errors import UsageError


def _engine(url: str) -> Any:
    from connectors.gateway.outbox import agency_engine

    try:
        return agency_engine(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.gateway.outbox import create_tables

    create_tables(_engine(args.url))
    print("hub_outbox, hub_outbox_sent and hub_inbox are ready", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.client import Connector, inbox_membership
    from connectors.gateway.outbox import (
        DatabaseInbox,
        OutboxRelay,
        OutboxRunner,
        create_tables,
        documents_folder,
    )
    from hub.core.process_lock import service_lock
    from hub.trust.address import Address

    address = Address.parse(args.as_)
    lock = service_lock(settings.home, f"outbox-{address}", f"an outbox relay for {address}")
    lock.acquire()
    engine = _engine(args.url)
    create_tables(engine)
    connector = Connector.from_settings(settings, address)
    relay = OutboxRelay(
        engine, connector, work_dir=settings.home / "outbox" / f"{address}.work",
        documents_dir=documents_folder(settings.home, address, args.documents_dir),
    )  # fmt: skip
    runner = OutboxRunner(relay, interval_s=args.interval).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if args.no_inbox:
            stop.wait()
        else:
            writer = DatabaseInbox(engine)
            connector.consume(
                writer.write,
                follow=True,
                stop=stop,
                auto_receipt=args.auto_receipt,
                membership=inbox_membership(settings, connector, f"outbox-{address}"),
            )
    except KeyboardInterrupt:
        pass
    finally:
        runner.close()
        connector.close()
        lock.release()
    return 0


def add_parsers(sub: Any, fmt: Any) -> None:
    o = sub.add_parser(
        "outbox",
        formatter_class=fmt,
        help="send an agency database's outbox rows; write what arrives to its inbox table",
        description="The agency's application inserts rows into hub_outbox (Debezium's outbox "
        "columns id, aggregatetype, aggregateid, type, payload, plus family, recipient and an "
        "optional correlation_id) in its own transaction; this relay sends each row once, in "
        "insertion order, and writes every verified message that arrives into hub_inbox.  "
        "PostgreSQL (postgresql+psycopg://) or MariaDB (mysql+pymysql://).",
    )
    os_ = o.add_subparsers(dest="outbox_command", metavar="SUBCOMMAND", required=True)
    s = os_.add_parser("init", help="create the tables")
    s.add_argument("--url", required=True, help="the agency database (SQLAlchemy URL)")
    s.set_defaults(func=cmd_init)
    s = os_.add_parser("run", help="run the relay (and the inbox writer)")
    s.add_argument("--as", dest="as_", metavar="AGENCY@REGION", required=True)
    s.add_argument("--url", required=True, help="the agency database (SQLAlchemy URL)")
    s.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
    s.add_argument(
        "--documents-dir", default="", metavar="DIR",
        help="the only folder a hub_outbox_documents path may name; any other path, a link or "
        "a missing file refuses the row (default: HOME/outbox/AGENCY@REGION.documents)",
    )  # fmt: skip
    s.add_argument("--no-inbox", action="store_true", help="only send; write no inbox table")
    s.add_argument("--auto-receipt", action="store_true", help="sign for each original kept")
    s.set_defaults(func=cmd_run)
