"""``hub audit``: verify, trail, prove, consistency, search, export, checkpoint, migrate, sink.

For compliance officers: tables readable in a terminal (times in China Standard Time), and
``--json`` for machines.  Exit status of ``verify``: 0 intact, 1 tampered (naming the first bad
record), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from hub.audit.downgrade import downgrade_journal, is_downgrade, record_downgrade
from hub.audit.events import KINDS
from hub.audit.keys import message_keys, operator_entries, revocations
from hub.audit.schema import schema_revision
from hub.audit.store import AuditStore
from hub.audit.trail import build_trail, story
from hub.cli import proofs
from hub.cli.audit_archive import cmd_archive, cmd_prune
from hub.cli.audit_verify import cmd_head, cmd_verify, directory_or_empty
from hub.cli.output import progress, table
from hub.core.clock import beijing_time, parse_when
from hub.core.config import Settings
from hub.core.errors import UsageError

log = logging.getLogger("hub.audit")


def _open(settings: Settings) -> AuditStore:
    return AuditStore(settings.effective_audit_url)


# -- commands -------------------------------------------------------------------------------------


def cmd_trail(args: argparse.Namespace, settings: Settings) -> int:
    store = _open(settings)
    records = store.trail(args.message_id)
    if not records:
        print(f"hub: no audit records about {args.message_id}", file=sys.stderr)
        return 1
    directory = directory_or_empty(settings)
    steps = build_trail(records, store.predecessor_hash, message_keys(directory, store),
                        revocations(directory), store.suite)  # fmt: skip
    if args.json:
        print(json.dumps([s.to_json() for s in steps], ensure_ascii=False))
    else:
        rows = []
        for s in steps:
            r = s.record
            sig = {"valid": "✓ valid", "": "-"}.get(s.signature, "✗ " + s.signature)
            rows.append(
                [
                    f"#{r['seq']}",
                    beijing_time(r["occurred_at"]),
                    r["kind"],
                    story(s),
                    r["status"] or "",
                    sig + (f" ({s.signer})" if s.signer and s.signature == "valid" else ""),
                    "✓" if s.record_ok else "✗ ALTERED",
                ]
            )
        first = records[0]
        print(f"chain of custody of {args.message_id} ({first['family'] or 'unknown family'})")
        print(table(rows, ["record", "hub time (CST)", "event", "what", "status", "signature",
                            "record"]))  # fmt: skip
    bad = [s for s in steps if not s.record_ok or s.signature not in {"valid", ""}]
    if bad and not args.json:
        print(f"\n{len(bad)} step(s) failed verification: see the last two columns")
    return 1 if bad else 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    store = _open(settings)
    try:
        since = parse_when(args.since) if args.since else None
        until = parse_when(args.until) if args.until else None
    except ValueError as exc:
        raise UsageError(f"--since/--until: {exc}") from exc
    if args.until and len(args.until.strip()) == 10 and until is not None:
        until += timedelta(days=1)  # a date means "through the end of that day"
    records = store.search(
        agency=args.agency,
        family=args.family,
        region=args.region,
        since=since,
        until=until,
        kinds=args.kind,
        status=args.status,
        limit=args.limit,
    )
    if args.json:
        print(json.dumps(records, ensure_ascii=False))
        return 0
    rows = [
        [
            f"#{r['seq']}",
            beijing_time(r["occurred_at"]),
            r["kind"],
            r["family"] or "",
            r["sender"] or "",
            r["routed_to"] or r["recipient"] or "",
            r["status"] or "",
            (r["message_id"] or "")[:36],
        ]
        for r in records
    ]
    print(table(rows, ["record", "time (CST)", "event", "family", "from", "to", "status",
                        "message"]))  # fmt: skip
    more = " (limit reached: narrow the search or raise --limit)" if len(rows) == args.limit else ""
    print(f"{len(rows)} record(s){more}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from hub.audit.export import export
    from hub.trust.operators import OPERATORS

    store = _open(settings)
    keys = {
        k.key_id: {"address": str(OPERATORS), "public_key": k.public_key}
        for k in operator_entries(directory_or_empty(settings))
    }
    out = Path(args.out)
    manifest = export(store, out, checkpoint_keys=keys, progress=progress("exporting"))
    if args.json:
        print(json.dumps({"dir": str(out), **manifest}, ensure_ascii=False))
    else:
        print(f"exported {manifest['records']} records and {manifest['checkpoints']} checkpoints")
        for name, info in manifest["files"].items():
            print(f"  {out / name}  {manifest['hash']} {info[manifest['hash']]}")
        print(f"  {out / 'manifest.json'}")
        print(f"re-verify anywhere with: python3 ops/audit/verify_export.py {out}")
    return 0


def cmd_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    from hub.trust.directory import load_signing_key
    from hub.trust.directory_file import load_directory
    from hub.trust.operators import OPERATORS

    store = _open(settings)
    if not args.no_sign:
        key = load_signing_key(settings.keys_dir, OPERATORS, load_directory(settings))
        cp = store.checkpoint(key)
        # None: the sink signed one meanwhile (every audit_checkpoint_interval_s); name it.
        said, cp = ("signed", cp) if cp else ("nothing new to sign:", store.checkpoints()[-1])
        print(f"{said} checkpoint at record #{cp.seq} ({cp.head_hash[:16]}…) with {cp.key_id}")
    if args.export:
        lines = [json.dumps(cp.to_json()) for cp in store.checkpoints()]
        Path(args.export).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"wrote {len(lines)} checkpoint(s) to {args.export}; keep it outside the database")
    if args.json:
        print(json.dumps([cp.to_json() for cp in store.checkpoints()]))
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from hub.audit.schema import migrate
    from hub.storage.engine import make_engine

    engine = make_engine(settings.effective_audit_url)
    before = schema_revision(engine)
    if before and is_downgrade(before, args.revision):
        records = AuditStore(settings.effective_audit_url, migrate_schema=False).count()
        if records and not args.force:
            raise UsageError(
                f"refusing to move the audit schema down from {before} to {args.revision}: the "
                f"log holds {records} records and a downgrade may drop them.  Export it first "
                "(hub audit export), then repeat with --force; the downgrade is recorded in "
                f"{downgrade_journal(settings)}"
            )
        if records:
            record_downgrade(settings, before, args.revision, records)
    migrate(engine, args.revision)
    after = schema_revision(engine)
    print(f"audit store schema: {before or 'empty'} → {after or 'empty'}")
    return 0


def cmd_sink(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import threading

    from consumers.audit_sink import AuditSink
    from hub.core.process_lock import service_lock
    from hub.runtime.state import resolve_bootstrap

    # Started by `hub run` after a crash, the killed hub's sink may still be writing its last
    # batch: wait for it rather than refuse.
    lock = service_lock(settings.home, "audit-sink", f"an audit sink for {settings.home}")
    lock.acquire(wait_s=30.0 if args.parent_pid is not None else 0.0)
    sink = AuditSink(settings, args.bootstrap or resolve_bootstrap(settings))
    port = args.metrics_port if args.metrics_port is not None else settings.audit_metrics_port
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=settings.web_host)
        log.info("audit sink metrics at http://%s:%d/metrics", settings.web_host, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sink.start()
    if args.parent_pid is None:
        print("audit sink running; Ctrl-C stops it", file=sys.stderr)
    try:
        while not stop.wait(0.5):
            # Started by `hub run`: do not outlive it, even if it was killed outright.
            if args.parent_pid is not None and os.getppid() != args.parent_pid:
                log.warning("the hub (pid %d) is gone; stopping the audit sink", args.parent_pid)
                break
    except KeyboardInterrupt:
        pass
    sink.stop()
    lock.release()
    return 0


def add_parsers(sub: Any, fmt: Any) -> None:
    audit = sub.add_parser(
        "audit",
        formatter_class=fmt,
        help="the tamper-evident transfer log: verify, trail, search, export",
        description="The transfer log (audit store, setting audit_url): every hub event, "
        "hash-chained and checkpointed with the hub operators' Ed25519 key.  Metadata and "
        "hashes only; no clue contents, names or ID numbers.",
    )
    asub = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)

    s = asub.add_parser(
        "verify",
        formatter_class=fmt,
        help="check the hash chain and the signed checkpoints",
        description="Recompute the hash chain from the first record and check every "
        "checkpoint's signature.  Exit 0 when intact; 1 naming the first bad record when a "
        "record was altered, deleted, inserted or reordered.",
        epilog="example: hub audit verify --checkpoints /mnt/offsite/checkpoints.jsonl",
    )
    s.add_argument(
        "--checkpoints",
        action="append",
        metavar="FILE",
        help="checkpoints kept outside the database (`hub audit checkpoint --export`); repeatable",
    )
    s.add_argument(
        "--tsa-ca",
        metavar="FILE",
        help="verify the checkpoints' RFC 3161 tokens against these CA certificates (PEM; "
        "default: the tsa_ca_file setting)",
    )
    s.add_argument("--key", action="append", metavar="KEY_ID=BASE64",
                   help="also trust this public key for checkpoints")  # fmt: skip
    s.add_argument("--witnesses", type=int, default=0, metavar="K",
                   help="also require a tree head cosigned by at least K agencies")  # fmt: skip
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_verify)

    s = asub.add_parser(
        "archive",
        formatter_class=fmt,
        help="write a month of the log as a signed, self-verifying archive",
        description="Write the records the sink recorded in MONTH into a new folder: the "
        "records, one extract per agency, the month's checkpoints, timestamp tokens and "
        "cosigned tree heads, and a manifest signed with the operators' key that carries the "
        "tree hashes of every earlier record, so the archive verifies alone "
        "(ops/audit/verify_export.py).  Streams: memory does not grow with the month.",
        epilog="example: hub audit archive --month 2026-11 --out /mnt/archive/audit-2026-11",
    )
    s.add_argument("--month", required=True, metavar="YYYY-MM")
    s.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    s.set_defaults(func=cmd_archive)

    s = asub.add_parser(
        "prune",
        formatter_class=fmt,
        help="delete an archived month's records from the live log (their hashes stay)",
        description="Check the archive (signed by the operators' key, the same records and root "
        "as the live log, the next month to prune) and delete its records from the live log, "
        "keeping each record's chain hash: tree heads and proofs go on as before.  Needs the "
        "database owner's URL on PostgreSQL (the hub's role may not delete).  Resumable.",
    )
    s.add_argument("--archive", required=True, metavar="DIR")
    s.add_argument("--url", help="the audit store as its owner (default: audit_url)")
    s.set_defaults(func=cmd_prune)

    s = asub.add_parser(
        "head",
        formatter_class=fmt,
        help="the latest tree head the agencies cosigned, with their cosignatures",
        description="Print the tree head with the largest size any agency cosigned as a C2SP "
        "signed note: the operators' checkpoint and every cosignature that verifies against "
        "the directory (on stderr: how many agencies).  Exit 1 when no head is cosigned.",
    )
    s.add_argument("--size", type=int, help="that head instead of the latest cosigned")
    s.add_argument("--witnesses", type=int, default=1, metavar="K",
                   help="the latest head at least K agencies cosigned (default 1)")  # fmt: skip
    s.add_argument(
        "--check", action="store_true", help="also recompute the log's root at that size"
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_head)

    s = asub.add_parser(
        "trail",
        formatter_class=fmt,
        help="the chain of custody of one message, signatures re-verified",
        description="Every recorded step of a message and of the replies and SLA events "
        "about it, oldest first; each record's hash and each message signature is "
        "re-verified.  Exit 1 if any step fails.",
        epilog="example: hub audit trail 4e165b42-7b77-4663-9380-cb2a321cd5b7",
    )
    s.add_argument("message_id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_trail)
    proofs.add_parsers(asub, fmt)

    s = asub.add_parser(
        "search",
        formatter_class=fmt,
        help="find records by agency, family, region, time, status, event",
        description="Records matching every filter given, oldest first.  --region includes "
        "the regions under it (350500 finds 350582 too).  Dates are China Standard Time.",
        epilog="example: hub audit search --agency PSB --family clue_transfer "
        "--since 2024-06-17 --until 2024-06-23 --status CLOSED",
    )
    s.add_argument("--agency", help="sender, recipient or inbox agency (MIB, PSB, …)")
    s.add_argument("--family", help="message family (clue_transfer, closure, …)")
    s.add_argument("--region", help="6-digit region code of a party")
    s.add_argument("--since", help="YYYY-MM-DD or ISO-8601 instant (inclusive)")
    s.add_argument("--until", help="YYYY-MM-DD (inclusive) or ISO-8601 instant (exclusive)")
    s.add_argument("--status", help="DELIVERED, RECEIVED, ACCEPTED, RETURNED, IN_PROGRESS, "
                   "CLOSED or DEAD_LETTERED")  # fmt: skip
    s.add_argument("--kind", action="append", choices=KINDS, help="event kind; repeatable")
    s.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_search)

    s = asub.add_parser(
        "export",
        formatter_class=fmt,
        help="CSV + JSON Lines + checkpoints + manifest, re-verifiable without the hub",
        description="Write audit.csv, audit.jsonl, checkpoints.jsonl and manifest.json (file "
        "hashes, hash rule, chain head, checkpoint keys) into --out.  An outsider re-verifies "
        "them with ops/audit/verify_export.py (Python standard library + cryptography).",
    )
    s.add_argument("--out", required=True, help="directory to write into")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_export)

    s = asub.add_parser(
        "checkpoint",
        formatter_class=fmt,
        help="sign the chain head now and/or export the checkpoints",
        description="The sink signs checkpoints by itself (audit_checkpoint_every records or "
        "audit_checkpoint_interval_s seconds); this signs one now, with the hub operators' "
        "key, and --export copies all checkpoints to a file to keep elsewhere.",
    )
    s.add_argument("--export", metavar="FILE", help="write all checkpoints (JSON Lines) here")
    s.add_argument("--no-sign", action="store_true", help="only export, do not sign")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_checkpoint)

    s = asub.add_parser(
        "migrate",
        formatter_class=fmt,
        help="bring the audit store's schema up to date (Alembic)",
        description="Every audit store opened by the hub is migrated to the newest schema; "
        "this does it explicitly, or moves to --revision (e.g. base, to drop the tables).",
    )
    s.add_argument("--revision", default="head")
    s.add_argument(
        "--force",
        action="store_true",
        help="allow a downgrade of a log that holds records (it is journalled outside the log)",
    )
    s.set_defaults(func=cmd_migrate)

    s = asub.add_parser(
        "sink",
        formatter_class=fmt,
        help="run the audit sink as its own process",
        description="Read hub.audit into the audit store.  `hub run` does this itself unless "
        "audit_sink = false; run this instead to keep the sink in a process of its own.",
    )
    s.add_argument("--bootstrap", help="Kafka bootstrap servers (default: the running hub's)")
    s.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics on this port (default: audit_metrics_port; 0: none)",
    )
    s.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_sink)
