"""The ``hub audit`` commands themselves (trail, search, export, checkpoint, migrate, sink); their
parsers are in ``hub.cli.audit``, which imports this module only when one of them runs, so that
commands that do not touch the audit store do not load it and SQLAlchemy."""

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
from hub.audit.keys import message_keys, operator_entries, revocations
from hub.audit.schema import schema_revision
from hub.audit.store import AuditStore
from hub.audit.trail import build_trail, story
from hub.cli.audit_verify import directory_or_empty
from hub.cli.output import progress, table
from hub.core.clock import beijing_time, parse_when
from hub.core.config import Settings
from hub.core.errors import UsageError

log = logging.getLogger("hub.audit")


def _open(settings: Settings) -> AuditStore:
    return AuditStore(settings.effective_audit_url)


# -- commands -------------------------------------------------------------------------------------


def _with_facts(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record with its facts as the object they are (stored as canonical JSON text),
    as `hub audit trail --json` gives them."""
    facts = record.get("facts")
    return {**record, "facts": json.loads(facts) if isinstance(facts, str) else facts}


def _archived_trail(store: Any, settings: Settings, args: argparse.Namespace) -> int:
    """A hand-off pruned from the live log, from the monthly archives that hold it."""
    from hub.audit.archived import find_archived

    found = find_archived(store, settings.archive_path, args.message_id)
    if not found:
        print(f"hub: no audit records about {args.message_id}, live or in the archives in "
              f"{settings.archive_path}", file=sys.stderr)  # fmt: skip
        return 1
    if args.json:
        print(json.dumps([{**_with_facts(r), "archive": a.month, "verified": a.verified,
                           "problem": a.problem} for a in found for r in a.records],
                         ensure_ascii=False))  # fmt: skip
        return 0 if all(a.verified for a in found) else 1
    for a in found:
        print(a.label())
        rows = [[r["seq"], beijing_time(r["occurred_at"]), r["kind"], r.get("status") or ""]
                for r in a.records]  # fmt: skip
        print(table(rows, ["record", "hub time (CST)", "event", "status"]))
    return 0 if all(a.verified for a in found) else 1


def cmd_trail(args: argparse.Namespace, settings: Settings) -> int:
    store = _open(settings)
    records = store.trail(args.message_id)
    if not records:
        return _archived_trail(store, settings, args)
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
        # facts as the object they are, as `hub audit trail --json` gives them
        print(json.dumps([_with_facts(r) for r in records], ensure_ascii=False, default=str))
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
