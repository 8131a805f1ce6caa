"""``hub report weekly --send`` and ``--received``: the weekly report travels upward.

``--send --as MIB@350582`` builds the bureau's figures for the week and sends them, with the
week's processing reports as documents, to the bureau one level up, answering the duty the hub
opened (``hub.sla.weekly``).  A county's figures are what the hub's log supports for its region;
a city's are the sum of its counties' submissions (``based_on`` names them).
``--received --as MIB@350500`` shows each submission the bureau got for the week beside what the
log supports for the sender's region, every difference flagged.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any

from hub.audit.store import AuditStore
from hub.cli.output import table
from hub.core.config import Settings
from hub.core.errors import UsageError
from hub.report.check import compare, figures, submissions
from hub.report.travel import upward_report
from hub.report.weekly import weekly_report_from_store
from hub.sla.weekly import duty_id
from hub.trust.address import Address


def _reports(items: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        closure, sep, path = item.partition("=")
        if not sep or not closure or not path:
            raise UsageError(f"--processing-report {item!r}: use CLOSURE_ID=FILE")
        out.append((closure, path))
    return out


def cmd_send(args: argparse.Namespace, settings: Settings, audit: AuditStore) -> int:
    from connectors.client import Connector
    from connectors.documents import DocumentFile

    me = Address.parse(args.as_)
    week = args.week
    reports = _reports(args.processing_report)
    files = [DocumentFile.of(path) for _, path in reports]
    with Connector.from_settings(settings, me) as conn:
        above, payload = upward_report(
            audit, me, week, set(conn.directory().connectors), [c for c, _ in reports]
        )
        mid = conn.send("weekly_report", above, payload, correlation_id=duty_id(me, week),
                        documents=files)  # fmt: skip
    print(mid)
    based_on = payload["based_on"]
    print(
        f"weekly report {week} of {me} sent to {above}: {len(payload['figures'])} figures, "
        f"{len(files)} processing report(s)"
        + (f", the sum of {len(based_on)}" if based_on else ""),
        file=sys.stderr,
    )
    return 0


def cmd_received(args: argparse.Namespace, settings: Settings, audit: AuditStore) -> int:
    me = Address.parse(args.as_)
    got = submissions(audit.events_of_kinds(["weekly_report"]), recipient=str(me), week=args.week)
    checked = []
    for s in got:
        supported = figures(weekly_report_from_store(audit, s.region, s.week))
        checked.append(replace(s, cells=tuple(compare(s.figures, supported))))
    if args.format == "json":
        print(json.dumps([s.to_json() for s in checked], ensure_ascii=False, indent=2))
        return 0
    if not checked:
        print(f"no weekly report for {args.week} has reached {me}")
        return 0
    for s in checked:
        what = f"{len(s.figures)} figures, {s.processing_reports} processing report(s)"
        print(f"{s.sender} → {s.recipient}, {s.week}, received {s.occurred_at} ({what})")
        rows: list[list[Any]] = [
            [c.key, c.submitted, c.supported, c.flag] for c in s.cells if c.flag != "ok"
        ]
        if rows:
            print(table(rows, ["figure", "submitted", "the log supports", "flag"]))
        else:
            print("  every figure is what the log supports")
    flagged = sum(len(s.flagged) for s in checked)
    print(f"{len(checked)} report(s); {flagged} figure(s) flagged")
    return 0
