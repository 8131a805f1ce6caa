"""``hub report weekly``: the seed's 周报表 forms 1–3 from the audit log."""

from __future__ import annotations

from typing import Any

from hub.cli.lazy import later

FORMATS = ("table", "csv", "html", "json", "xlsx")

WEEKLY_HELP = """\
Compute 打击欺诈骗保工作周报表（一）（二）（三） (临医保发〔2019〕8号) for one region and one
ISO week from the audit log.

  form 3  clues from the national bureau and the provincial bureau per batch (第N批) and
          whistle-blower clues: transferred, closed, verified true, as at the week's end;
  form 1  sanctions on designated hospitals and pharmacies and sums recovered, from the
          clues first closed in the week;
  form 2  the same for insured persons.

The region covers MIB connectors in it and under it (350500: the city and its counties).
Weeks run Monday 00:00 to Monday 00:00 China Standard Time.  Figures the log does not carry
(通报批评, 为患者追回资金, 月营业额) are shown as "—" for hand entry.
"""

WEEKLY_EXAMPLES = """\
examples:
  hub report weekly --region 350500 --week 2024-W25
  hub report weekly --region 350582 --week 2024-W25 --format json
  hub report weekly --region 350500 --week 2024-W25 --out reports/2024-W25
      (writes form1.csv form2.csv form3.csv for Excel and weekly.html for printing)
  hub report weekly --region 350500 --week 2024-W25 --format xlsx --out 周报表.xlsx
  hub report weekly --send --as MIB@350582 --week 2024-W25 --processing-report ID=处理报告.pdf
  hub report weekly --received --as MIB@350500 --week 2024-W25
"""


def add_parsers(sub: Any, formatter_class: Any) -> None:
    report = sub.add_parser(
        "report",
        formatter_class=formatter_class,
        help="reports computed from the audit log",
        description="Reports computed from the audit log.",
    )
    rs = report.add_subparsers(dest="report_command", metavar="SUBCOMMAND", required=True)
    s = rs.add_parser(
        "weekly",
        formatter_class=formatter_class,
        help="the weekly report 周报表 forms 1–3 (临医保发〔2019〕8号)",
        description=WEEKLY_HELP,
        epilog=WEEKLY_EXAMPLES,
    )
    s.add_argument("--region", metavar="CODE", help="six-digit region code, e.g. 350500")
    s.add_argument("--week", required=True, metavar="YYYY-Www", help="ISO week, e.g. 2024-W25")
    s.add_argument(
        "--out",
        metavar="DIR|FILE",
        help="write form1.csv form2.csv form3.csv (UTF-8 with BOM) and weekly.html into DIR "
        "and print their paths; with --format xlsx, the workbook FILE",
    )
    s.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="what to print when there is no --out: table (form 3 and summaries of forms 1–2, "
        "the default), csv (the three forms), html (the printable page) or json; xlsx writes "
        "the workbook (a sheet per form) to --out FILE",
    )
    travel = s.add_mutually_exclusive_group()
    travel.add_argument(
        "--send",
        action="store_true",
        help="send the week's report to the bureau one level up (due Wednesday), as --as: a "
        "county's figures from the log, a city's the sum of its counties' submissions",
    )
    travel.add_argument(
        "--received",
        action="store_true",
        help="the reports --as received for the week, each figure beside what the log "
        "supports for the sender's region, differences flagged",
    )
    s.add_argument("--as", dest="as_", metavar="MIB@REGION", help="the bureau, with --send or "
                   "--received")  # fmt: skip
    s.add_argument(
        "--processing-report",
        action="append",
        metavar="CLOSURE_ID=FILE",
        help="with --send: a processing report of the week to carry, repeatable",
    )
    s.set_defaults(func=later("hub.cli.report_commands", "cmd_report_weekly"))
