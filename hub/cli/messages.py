"""``hub run``, ``hub send`` and ``hub inbox``: running the hub and moving messages by hand."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

from hub.cli.output import byte_progress, print_json
from hub.core.config import Settings
from hub.core.errors import ContractError, HubError, UsageError
from hub.core.paths import CHECKOUT_EXAMPLES

log = logging.getLogger("hub")


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from hub.runtime.runner import run_hub

    level = (args.log_level or settings.log_level).upper()
    logging.getLogger().setLevel("WARNING" if level == "WARN" else level)
    return run_hub(settings)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from hub.runtime.worker import run_worker

    return run_worker(settings, metrics_port=args.metrics_port, instance=args.instance)


def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.client import Connector
    from hub.wire.families import FAMILIES
    from hub.wire.jsonpayload import PayloadError, from_json

    fam = FAMILIES.get(args.family)
    if fam is None:
        raise UsageError(f"unknown family {args.family!r}; known: {', '.join(sorted(FAMILIES))}")
    try:
        data = json.loads(Path(args.payload).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise HubError(f"cannot read payload {args.payload}: {exc}") from exc
    with Connector.from_settings(settings, args.sender) as conn:
        schema = (
            conn.registry.version(fam.schema_stem, args.schema_version)
            if args.schema_version
            else conn.registry.latest(fam.schema_stem)
        )
        try:
            payload = from_json(schema.raw, data)
        except PayloadError as exc:
            raise ContractError(f"{args.payload} does not fit {schema.label}: {exc}") from exc
        for path in args.attach:
            if not Path(path).is_file():
                raise UsageError(f"--attach {path}: no such file")
        message_id = conn.send(
            args.family,
            args.recipient,
            payload,
            correlation_id=args.correlation_id,
            causation_id=args.causation_id,
            schema_version=schema.version,
            message_id=args.message_id,
            documents=args.attach,
            progress=byte_progress("sending documents") if args.attach else None,
        )
    print(message_id)
    return 0


def cmd_inbox(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.client import Connector, InboxMessage

    def show(msg: InboxMessage) -> None:
        if args.json:
            print_json(msg.to_json())
        else:
            env = msg.envelope
            print(
                f"{env.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z  {env.family:<30} "
                f"{env.message_id}  from {env.sender}  to {env.recipient}"
                + ("  (fallback)" if msg.via == "fallback" else "")
            )
            if args.verbose_payload:
                print(json.dumps(msg.to_json()["payload"], ensure_ascii=False, indent=2))
            for d in msg.documents:
                where = f"  → {d.path}" if d.path else ""
                print(f"    document {d.n}: {d.name}  {d.media_type}  {d.size} bytes  "
                      f"sha256 {d.sha256[:16]}…{where}")  # fmt: skip
        sys.stdout.flush()

    # Consuming signs for each original taken (签收), which needs the connector's key.
    signing = args.consume and not args.no_receipt
    with Connector.from_settings(settings, args.address, signing=signing) as conn:
        # A record that fails the connector's checks is shown, skipped, and never blocks the
        # inbox; in --json it is one object with "rejected" and "reason".
        conn.on_rejected = (
            (lambda r: print_json(r.to_json()))
            if args.json
            else (
                lambda r: print(f"rejected {r.to_json()['rejected']}: {r.reason}", file=sys.stderr)
            )
        )
        if args.consume:
            if args.save_documents:
                conn.documents_dir = Path(args.save_documents)
            n = conn.consume(
                show, follow=args.follow, idle_timeout_s=args.idle, auto_receipt=signing
            )
            log.info("handled %d message(s) for %s", n, conn.address)
        else:
            count = 0
            saving = Path(args.save_documents) if args.save_documents else None
            for msg in conn.messages(
                follow=args.follow, idle_timeout_s=args.idle, save_documents=saving
            ):
                show(msg)
                count += 1
            if not args.json:
                print(f"{count} message(s) in the inbox of {conn.address}", file=sys.stderr)
    return 0


def add_parsers(sub: Any, fmt: Any) -> None:
    s = sub.add_parser(
        "run",
        formatter_class=fmt,
        help="run the hub (router worker)",
        description="Run the router worker.  With no Kafka bootstrap servers "
        "configured, start the embedded Tansu broker on a free loopback port and "
        "create a development directory with keys for demo connectors.  Stop "
        "with Ctrl-C; the embedded broker stops with it.",
    )
    s.add_argument("--bootstrap", help="Kafka bootstrap servers (overrides HUB_KAFKA_BOOTSTRAP)")
    s.add_argument("--web-port", type=int, help="port of /metrics (default: a free port)")
    s.add_argument(
        "--log-level",
        choices=["debug", "info", "warn", "error"],
        help="log level (default: the log_level setting, info)",
    )
    s.set_defaults(func=cmd_run)

    s = sub.add_parser(
        "worker",
        formatter_class=fmt,
        help="run one more router worker beside a running hub",
        description="Join the router workers' consumer group and route a share of hub.ingress "
        "(the group splits its partitions among the workers and moves them back when one "
        "stops).  Routing only: the SLA timer and redelivery stay with `hub run`.  Reaches the "
        "broker and store of the hub running from this directory, or those configured; two "
        "processes on one SQLite file take turns to write, so use PostgreSQL to gain from it.  "
        "Stop with Ctrl-C.",
    )
    s.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve /metrics, /healthz and /readyz on this port (default: none)",
    )
    s.add_argument(
        "--instance",
        default="1",
        help="this worker's name among those run from this directory: a second worker of the "
        "same name is refused while the first runs (default: 1; systemd's hub-worker@N passes N)",
    )
    s.set_defaults(func=cmd_worker)

    s = sub.add_parser(
        "send",
        formatter_class=fmt,
        help="sign and send one message",
        description="Sign a payload as the sending connector and publish it.  "
        "Prints the new message id.",
        epilog=f"Example payloads: {CHECKOUT_EXAMPLES}",
    )
    s.add_argument("family", help="message family (see `hub families`)")
    s.add_argument(
        "--from",
        dest="sender",
        required=True,
        metavar="AGENCY@REGION",
        help="the sending connector, whose private key signs",
    )
    s.add_argument("--to", dest="recipient", required=True, metavar="AGENCY@REGION")
    s.add_argument(
        "--payload", required=True, metavar="FILE.json", help="payload as JSON; dates as YYYY-MM-DD"
    )
    s.add_argument("--correlation-id", help="the message this one answers")
    s.add_argument("--causation-id", help="the message that caused this one")
    s.add_argument("--schema-version", type=int, help="payload schema version (default: newest)")
    s.add_argument("--message-id", help="reuse an id when retrying a send (default: new UUID)")
    s.add_argument(
        "--attach",
        action="append",
        default=[],
        metavar="FILE",
        help="a document to send with the message (repeatable): evidence with a clue, a "
        "processing report with feedback or a closure; always sealed to the recipient, up to "
        "max_document_bytes (2 GiB) each; its media type comes from its extension",
    )
    s.set_defaults(func=cmd_send)

    s = sub.add_parser(
        "inbox",
        formatter_class=fmt,
        help="show a connector's inbox",
        description="Print the messages in a connector's inbox, verified against "
        "the directory and decoded.  By default it lists everything without "
        "consuming; --consume reads as the connector's consumer group and commits.",
    )
    s.add_argument("address", metavar="AGENCY@REGION")
    s.add_argument("--follow", "-f", action="store_true", help="keep waiting for new messages")
    s.add_argument("--json", action="store_true", help="one JSON object per message")
    s.add_argument(
        "--payload",
        dest="verbose_payload",
        action="store_true",
        help="also print each payload (human format)",
    )
    s.add_argument(
        "--consume",
        action="store_true",
        help="consume as the connector group: commit offsets, skip handled ids",
    )
    s.add_argument(
        "--no-receipt",
        action="store_true",
        help="with --consume, do not sign for (签收) the messages taken",
    )
    s.add_argument(
        "--idle",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="without --follow, stop at the end of the inbox (known from the fetch responses) "
        "or after this long with no new message, whichever comes first (default 3)",
    )
    s.add_argument(
        "--save-documents",
        metavar="DIR",
        help="read each message's documents, check them against the sender's signed manifest "
        "and save them in DIR/<message id>/ (without it, only their names and digests are "
        "shown; --consume saves them under the hub home by default)",
    )
    s.set_defaults(func=cmd_inbox)
