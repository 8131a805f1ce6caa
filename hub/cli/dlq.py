"""``hub dlq``: list, show and replay what the router could not deliver."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from hub.cli.output import print_json, table
from hub.core.config import Settings
from hub.core.errors import NotFound, UsageError


def open_store(settings: Settings) -> Any:
    from hub.storage.store import Store

    return Store(settings.effective_store_url)


def cmd_dlq_list(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    rows = store.dead_letters(reason=args.reason, limit=args.limit)
    if args.json:
        for r in rows:
            r = dict(r)
            r["original_size"] = len(r.pop("original"))
            print_json(r)
        return 0
    if not rows:
        print("the dead-letter queue is empty")
        return 0
    print(
        table(
            [
                [
                    r["dead_letter_id"],
                    f"{r['dead_lettered_at']:%Y-%m-%d %H:%M:%S}",
                    r["reason"],
                    r["family"] or "-",
                    r["sender"] or "-",
                    r["recipient"] or "-",
                    r["replay_count"],
                    r["detail"][:70],
                ]
                for r in rows
            ],
            ["ID", "AT (UTC)", "REASON", "FAMILY", "SENDER", "RECIPIENT", "REPLAYS", "DETAIL"],
        )
    )
    return 0


def _one_dead_letter(store: Any, wanted: str) -> dict[str, Any]:
    matches = store.find_dead_letters(wanted)
    if not matches:
        raise NotFound(f"no dead letter {wanted}; see `hub dlq list`")
    if len(matches) > 1:
        raise UsageError(f"{wanted} is ambiguous: {', '.join(matches[:5])}")
    return store.dead_letter(matches[0])


def cmd_dlq_show(args: argparse.Namespace, settings: Settings) -> int:
    row = _one_dead_letter(open_store(settings), args.id)
    row["original_size"] = len(row["original"])
    row["original_hex_head"] = row.pop("original")[:64].hex()
    print_json(row) if args.json else print(
        json.dumps(row, ensure_ascii=False, indent=2, default=str)
    )
    return 0


def cmd_dlq_replay(args: argparse.Namespace, settings: Settings) -> int:
    from kafka import KafkaProducer

    from hub.runtime.state import resolve_bootstrap
    from hub.wire.headers import REPLAY_OF
    from hub.wire.topics import INGRESS

    store = open_store(settings)
    row = _one_dead_letter(store, args.id)
    producer = KafkaProducer(
        bootstrap_servers=resolve_bootstrap(settings),
        acks="all",
        **settings.kafka_python_security(),
    )
    try:
        key = (row["message_id"] or row["dead_letter_id"]).encode()
        producer.send(
            INGRESS.name,
            value=row["original"],
            key=key,
            headers=[(REPLAY_OF, row["dead_letter_id"].encode())],
        ).get(30)
    finally:
        producer.close()
    store.mark_replayed(row["dead_letter_id"], datetime.now(UTC))
    print(
        f"replayed {row['dead_letter_id']} ({row['reason']}) to {INGRESS.name}; "
        "if it fails again it appears as a new dead letter with replay_of set"
    )
    return 0


def add_parsers(sub: Any, fmt: Any) -> None:
    dlq = sub.add_parser(
        "dlq",
        help="dead-letter queue",
        description="Inspect and replay messages the router could not deliver.",
    )
    ds = dlq.add_subparsers(dest="dlq_command", metavar="SUBCOMMAND", required=True)
    s = ds.add_parser(
        "list",
        help="list dead letters, newest first",
        description="List dead letters with their reason codes, newest first.",
    )
    s.add_argument("--json", action="store_true", help="one JSON object per dead letter")
    s.add_argument("--reason", help="only this reason code")
    s.add_argument("--limit", type=int, default=100)
    s.set_defaults(func=cmd_dlq_list)
    s = ds.add_parser(
        "show",
        help="show one dead letter",
        description="Show one dead letter (ID or a unique prefix).",
    )
    s.add_argument("id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_dlq_show)
    s = ds.add_parser(
        "replay",
        help="re-submit a dead letter",
        description="Re-submit the original bytes of a dead letter to the ingress "
        "topic, after its cause was fixed (a key registered, the policy changed…).",
    )
    s.add_argument("id", help="dead letter id, or a unique prefix")
    s.set_defaults(func=cmd_dlq_replay)
