"""``hub report weekly`` itself: computed, written, sent or checked; the parser is in
``hub.cli.report``, which imports this module only when the command runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hub.audit.schema import default_audit_url
from hub.audit.store import AuditStore
from hub.cli.weekly_travel import cmd_received, cmd_send
from hub.core.config import Settings
from hub.core.errors import UsageError
from hub.report.render import to_csv, to_html, to_text
from hub.report.rules import check_region, week_bounds
from hub.report.weekly import weekly_report_from_store
from hub.report.xlsx import to_xlsx


def settings_audit_url(settings: Settings) -> str:
    return getattr(settings, "effective_audit_url", None) or default_audit_url(settings.home)


def cmd_report_weekly(args: argparse.Namespace, settings: Settings) -> int:
    travelling = args.send or args.received
    if travelling and not args.as_:
        raise UsageError("--send and --received need --as MIB@REGION")
    if not travelling and not args.region:
        raise UsageError("give --region (or --as with --send / --received)")
    try:
        region = check_region(args.region or args.as_.partition("@")[2])
        week_bounds(args.week)
    except ValueError as exc:
        print(f"hub report weekly: {exc}", file=sys.stderr)
        return 2
    url = settings_audit_url(settings)
    if url == default_audit_url(settings.home) and not (settings.home / "audit.db").exists():
        # Opening the store would create an empty log and report zeros as if they were true.
        print(
            f"hub report weekly: no audit log in {settings.home}: no hub has run from there yet",
            file=sys.stderr,
        )
        return 1
    store = AuditStore(url)
    try:
        if args.send:
            return cmd_send(args, settings, store)
        if args.received:
            return cmd_received(args, settings, store)
        report = weekly_report_from_store(store, region, args.week)
    finally:
        store.close()

    if args.format == "xlsx":
        if not args.out:
            raise UsageError("--format xlsx writes a workbook: give --out FILE.xlsx")
        target = Path(args.out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(to_xlsx(report))
        print(target)
        return 0
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        files = {**to_csv(report), "weekly.html": to_html(report)}
        for name, text in files.items():
            path = out / name
            # newline="" keeps the CSV writer's CRLF line ends as they are.
            path.write_text(text, encoding="utf-8", newline="")
            print(path)
        return 0
    if args.format == "json":
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    elif args.format == "csv":
        print("\n".join(to_csv(report, bom=False).values()), end="")
    elif args.format == "html":
        print(to_html(report), end="")
    else:
        print(to_text(report), end="")
    return 0
