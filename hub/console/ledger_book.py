"""The 台账 of a region and period: every hand-off with its dates, state and result, as a page
and as an XLSX workbook (openpyxl's write-only mode, so a long period streams row by row)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import Engine, select

from hub.console.search import region_range
from hub.core.clock import BEIJING, as_utc
from hub.lifecycle.tables import ledger
from hub.report.xlsx import guard_text

#: (column, heading) of the 台账, in order.
COLUMNS = (
    ("message_id", "消息编号"),
    ("family", "类别"),
    ("sender", "发送方"),
    ("routed_to", "接收方"),
    ("reference", "线索编号"),
    ("case_number", "案件编号"),
    ("state", "状态"),
    ("delivered_at", "移交时间"),
    ("received_at", "签收时间"),
    ("accepted_at", "受理时间"),
    ("closed_at", "办结时间"),
    ("result", "办理结果"),
    ("recovered_fen", "追回金额（元）"),
    ("penalties_fen", "罚没金额（元）"),
    ("processing_report", "处理报告"),
)
DATES = {"delivered_at", "received_at", "accepted_at", "closed_at"}
MONEY = {"recovered_fen", "penalties_fen"}


def rows(engine: Engine, region: str, since: datetime, until: datetime) -> Iterator[list[Any]]:
    """The 台账 rows of hand-offs delivered in [since, until) with a side in ``region``."""
    conditions = [ledger.c.delivered_at >= as_utc(since), ledger.c.delivered_at < as_utc(until)]
    if (span := region_range(region)) is not None:
        lo, hi = span
        conditions.append(
            (ledger.c.sender_region >= lo) & (ledger.c.sender_region < hi)
            | (ledger.c.recipient_region >= lo) & (ledger.c.recipient_region < hi)
        )
    query = select(*(ledger.c[c] for c, _ in COLUMNS)).where(*conditions)
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=1000).execute(
            query.order_by(ledger.c.delivered_at)
        )
        for r in result:
            yield [_cell(c, v) for (c, _), v in zip(COLUMNS, r, strict=True)]


def _cell(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in DATES:
        return as_utc(value).astimezone(BEIJING).replace(tzinfo=None)
    if column in MONEY:
        return value / 100
    return value


def to_xlsx(found: Iterator[list[Any]], title: str) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("台账")
    head = []
    for _, heading in COLUMNS:
        cell = guard_text(WriteOnlyCell(ws, value=heading))
        cell.font = Font(bold=True)
        head.append(cell)
    ws.append([guard_text(WriteOnlyCell(ws, value=title))])
    ws.append(head)
    for row in found:
        cells = []
        for (column, _), value in zip(COLUMNS, row, strict=True):
            cell = guard_text(WriteOnlyCell(ws, value=value))
            if column in DATES:
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif column in MONEY:
                cell.number_format = "0.00"
            cells.append(cell)
        ws.append(cells)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
