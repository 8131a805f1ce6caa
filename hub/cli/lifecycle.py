"""``hub receipt|accept|return|feedback|close`` answer hand-offs; ``hub status``: the board."""

from __future__ import annotations

import argparse
from typing import Any

from hub.cli.dlq import open_store
from hub.cli.output import print_json, table
from hub.core.config import Settings
from hub.core.errors import NotFound, UsageError


def _answerable(settings: Settings, message_id: str):
    """The original a lifecycle command answers, from this hub's ledger."""
    from connectors.client import OriginalRef
    from hub.lifecycle.ledger import Ledger
    from hub.trust.address import Address

    entry = Ledger(open_store(settings).engine).entry(message_id)
    if entry is None:
        raise NotFound(f"{message_id} is not in the ledger of {settings.home}")
    return OriginalRef(message_id, Address.parse(entry["sender"]), entry["family"])


def cmd_lifecycle(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.client import Connector

    original = _answerable(settings, args.message_id)
    with Connector.from_settings(settings, args.sender) as conn:
        if args.command == "receipt":
            mid = conn.receipt(original, received_by=args.by, note=args.note)
        elif args.command == "accept":
            mid = conn.accept(original, case_number=args.case_number)
        elif args.command == "return":
            mid = conn.return_(original, args.reason)
        elif args.command == "feedback":
            mid = conn.feedback(
                original, args.note, percent=args.percent, processing_report=args.processing_report
            )
        else:
            sanctions: dict[str, int] = {}
            for item in args.sanction or []:
                kind, _, count = item.partition("=")
                try:
                    sanctions[kind.strip().upper()] = int(count or 1)
                except ValueError as exc:
                    raise UsageError(f"--sanction {item!r}: use KIND or KIND=COUNT") from exc
            mid = conn.close_case(
                original,
                args.result,
                recovered_fen=args.recovered_fen,
                penalties_fen=args.penalties_fen,
                sanctions=sanctions,
                note=args.note,
                processing_report=args.processing_report,
            )
    print(mid)
    return 0


def router_readiness(settings: Settings) -> str:
    """One line: whether the running hub's router is ready (``/readyz``), or that none runs."""
    import json
    import urllib.error
    import urllib.request

    from hub.runtime.state import read_state

    state = read_state(settings.state_file)
    if state is None or not state.web_url:
        return "router: no hub is running from here"
    try:
        with urllib.request.urlopen(f"{state.web_url}/readyz", timeout=3) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503: not ready, with the reasons
        body = json.loads(exc.read() or b"{}")
    except (OSError, ValueError) as exc:
        return f"router: not answering at {state.web_url} ({type(exc).__name__})"
    if body.get("ready"):
        return f"router: ready ({body.get('ingress_partitions')} ingress partitions, store answers)"
    return (
        f"router: NOT ready (joined the ingress group: {body.get('router_joined')}; store "
        f"{body.get('store')}): messages sent now wait"
    )


def job_leases(engine: Any) -> str:
    """Who runs each job that must run once (``hub.storage.leases``), and until when."""
    from datetime import UTC, datetime

    from hub.core.clock import beijing_time
    from hub.storage.leases import JobLeases

    now = datetime.now(UTC)
    lines = []
    for lease in JobLeases(engine).all():
        left = (lease.expires_at - now).total_seconds()
        if left > 0:
            state = f"until {beijing_time(lease.expires_at)} CST ({left:.0f} s left)"
        else:
            state = f"EXPIRED {-left:.0f} s ago: the next process to try takes it over"
        lines.append(f"  {lease.job:<11} {lease.owner} pid {lease.pid}, fence {lease.fence}, "
                     f"since {beijing_time(lease.taken_at)} CST, {state}")  # fmt: skip
    if not lines:
        return "jobs: no lease taken yet (no hub has run its jobs on this store)"
    return "jobs that run once, and which process holds each:\n" + "\n".join(lines)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from hub.core.clock import clock_from_settings
    from hub.lifecycle.board import most_urgent
    from hub.lifecycle.ledger import Ledger

    if not settings.store_url and not (settings.home / "hub.db").exists():
        raise NotFound(f"no ledger in {settings.home}: no hub has run from there yet")
    engine = open_store(settings).engine
    board = Ledger(engine).board(clock_from_settings(settings)())
    if not args.json:
        print(router_readiness(settings))
        print(job_leases(engine))
    if args.json:
        for row in board:
            print_json(row)
        return 0
    if not board:
        print("the ledger is empty: nothing was delivered yet")
        return 0
    shown = board if args.all else most_urgent(board, args.limit)

    def median(value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value / 3600:.1f} h" if value >= 3600 else f"{value / 60:.0f} min"

    rows = [
        [
            b["sender"],
            b["recipient"],
            b["family"],
            b["open"],
            b["due_within_24h"],
            b["overdue"],
            b["warned"],
            b["breached"],
            b["escalated"],
            median(b["median_time_to_receipt_s"]),
        ]
        for b in shown
    ]
    headers = ["FROM", "TO", "FAMILY", "OPEN", "DUE<24H", "OVERDUE", "WARNED", "BREACHED"]
    print(table(rows, [*headers, "ESCALATED", "MEDIAN RECEIPT (30 D)"]))
    if len(shown) < len(board):
        print(f"the {len(shown)} most urgent of {len(board)} rows (overdue, due within 24 h, "
              "breached, open first); --all for every row, --json for a program")  # fmt: skip
    return 0


def add_parsers(sub: Any, fmt: Any) -> None:
    s = sub.add_parser(
        "status",
        formatter_class=fmt,
        help="the SLA board",
        description="Whether the router is ready; which process holds the lease of each job "
        "that must run once (tree heads, pruning); then per sender, recipient connector and "
        "family: hand-offs still open, obligations due within 24 h and overdue, warnings, "
        "breaches and escalations raised on open obligations, and the median time to receipt.  "
        "Read from the ledger.",
    )
    s.add_argument("--json", action="store_true", help="one JSON object per row (every row)")
    s.add_argument("--limit", type=int, default=40, metavar="N",
                   help="rows shown, the most urgent first (default 40)")  # fmt: skip
    s.add_argument("--all", action="store_true", help="every row, in sender order")
    s.set_defaults(func=cmd_status)
    _lifecycle_parsers(sub, fmt)


REPORT_HELP = "the case's processing report (处理报告), sent with the answer as its document"


def _lifecycle_parsers(sub: Any, fmt: Any) -> None:
    specs = [
        ("receipt", "sign for a message (签收)"),
        ("accept", "accept a message (受理)"),
        ("return", "return a message with a reason (退回)"),
        ("feedback", "report progress on an accepted message (反馈)"),
        ("close", "close an accepted message with its result (办结)"),
    ]
    for name, title in specs:
        s = sub.add_parser(
            name,
            formatter_class=fmt,
            help=title,
            description=f"{title[0].upper()}{title[1:]}, as the connector that received it.  "
            "The answer goes to the original's sender; prints its message id.",
        )
        s.add_argument(
            "--as",
            dest="sender",
            required=True,
            metavar="AGENCY@REGION",
            help="the connector that received the message, whose key signs",
        )
        s.add_argument("message_id", help="the id of the message answered")
        if name == "receipt":
            s.add_argument("--by", help="who signed (office or officer)")
            s.add_argument("--note")
        elif name == "accept":
            s.add_argument("--case-number", help="your own file number")
        elif name == "return":
            s.add_argument("--reason", required=True, help="why it is returned")
        elif name == "feedback":
            s.add_argument("--note", required=True)
            s.add_argument("--percent", type=int, help="progress 0..100")
            s.add_argument("--processing-report", metavar="FILE", help=REPORT_HELP)
        else:
            s.add_argument(
                "--result",
                required=True,
                choices=["VERIFIED_TRUE", "NOT_TRUE", "PARTIALLY_TRUE", "OTHER"],
            )
            s.add_argument("--recovered-fen", type=int, default=0, help="sums recovered, fen")
            s.add_argument("--penalties-fen", type=int, default=0, help="penalties, fen")
            s.add_argument(
                "--sanction",
                action="append",
                metavar="KIND[=COUNT]",
                help="INTERVIEW, SUSPENSION, AGREEMENT_TERMINATED, BLACKLISTED, FINED, "
                "REFERRED_TO_JUDICIAL or OTHER; repeatable",
            )
            s.add_argument("--note")
            s.add_argument(
                "--processing-report",
                metavar="FILE",
                help=REPORT_HELP + "; required by the policy to close a clue a higher level "
                "handed down (临医保发〔2019〕8号), refused before sending without it",
            )
        s.set_defaults(func=cmd_lifecycle)
