"""The weekly report as one XLSX workbook, a sheet per form, laid out as the notice draws them:
title and unit rows, the spanned header cells merged, numbers stored as numbers (counts as
integers, 万元 as decimals shown with two places), the notes and signature lines below.

Written with openpyxl; ``hub report weekly --format xlsx --out FILE`` and the console's
download both use it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from hub.report.forms import WeeklyReport
from hub.report.render import SIGNATURES, Cell, Sheet, _unit, sheets

_INT = re.compile(r"-?\d+")
#: A 合计（不重复数）cell of the forms, "2家，3.54万元": two figures in one box.  The workbook holds
#: them as two numbers: the count in the box (shown "2家"), the sum in a row of its own below
#: the table (shown "3.54万元"), so that every figure is a number a formula can add.
TOTAL_TEXT = re.compile(r"(\d+)(家|人)，(-?\d+\.\d{2})万元")
TOTAL_SUMS = "其中：追回金额（万元）"
_DEC = re.compile(r"-?\d+\.\d+")
_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


#: What makes a spreadsheet read text as a formula or a command (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guard_text(cell: Any) -> Any:
    """``cell`` holding its string as a string, never a formula: openpyxl takes any text that
    starts with ``=`` as one, so an agency's clue id ``=HYPERLINK(…)`` would come out live.  A
    string that starts like a formula also gets Excel's quote prefix, so editing the cell in
    Excel keeps it text."""
    if isinstance(cell.value, str):
        cell.data_type = "s"
        if cell.value.startswith(FORMULA_STARTS):
            cell.quotePrefix = True
    return cell


def value_of(text: str) -> int | float | str:
    """A cell's value as Excel should hold it: a number when the text is one."""
    if _INT.fullmatch(text):
        return int(text)
    if _DEC.fullmatch(text):
        return float(text)
    return text


def _place(
    ws: object, rows: Sequence[Sequence[Cell]], top: int, *, bold: bool,
    sums: list[tuple[int, float]] | None = None,
) -> int:  # fmt: skip
    """Write spanned rows from row ``top``; merge each span; returns the next free row.  A
    合计 box's count is written as a number and its sum (column, 万元) added to ``sums``."""
    taken: set[tuple[int, int]] = set()
    for r, row in enumerate(rows):
        col = 1
        for cell in row:
            while (top + r, col) in taken:
                col += 1
            taken.update((top + r + dr, col + dc) for dr in range(cell.rowspan)
                         for dc in range(cell.colspan))  # fmt: skip
            total = TOTAL_TEXT.fullmatch(cell.text)
            value = int(total.group(1)) if total else value_of(cell.text)
            target = ws.cell(row=top + r, column=col, value=value)  # type: ignore[attr-defined]
            if total:
                target.number_format = f'0"{total.group(2)}"'
                if sums is not None:
                    sums.append((col, float(total.group(3))))
            elif isinstance(target.value, float):
                target.number_format = "0.00"
            target.alignment, target.border = _CENTER, _BOX
            if bold:
                target.font = Font(bold=True)
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    ws.cell(row=top + r + dr, column=col + dc).border = _BOX  # type: ignore[attr-defined]
            if cell.rowspan > 1 or cell.colspan > 1:
                ws.merge_cells(  # type: ignore[attr-defined]
                    start_row=top + r, start_column=col,
                    end_row=top + r + cell.rowspan - 1, end_column=col + cell.colspan - 1,
                )  # fmt: skip
            col += cell.colspan
    return top + len(rows)


def _sums_row(ws: Any, row: int, sums: list[tuple[int, float]]) -> int:
    """The 合计 boxes' sums, each under its box, as numbers shown "3.54万元"."""
    first = min(col for col, _ in sums)
    label = ws.cell(row=row, column=1, value=TOTAL_SUMS)
    label.alignment, label.border = _CENTER, _BOX
    if first > 2:
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=first - 1)
    for col, wan in sums:
        cell = ws.cell(row=row, column=col, value=wan)
        cell.number_format = '0.00"万元"'
        cell.alignment, cell.border = _CENTER, _BOX
    return row + 1


def _width(sheet: Sheet) -> int:
    return max(sum(c.colspan for c in row) for row in [*sheet.head, *sheet.body])


def _sheet(wb: Workbook, sheet: Sheet, report: WeeklyReport) -> None:
    ws = wb.create_sheet(sheet.key)
    width = _width(sheet)
    row = 1
    for text, size in ((sheet.title, 14), (sheet.subtitle, 11)):
        if not text:
            continue
        ws.cell(row=row, column=1, value=text).font = Font(bold=size > 11, size=size)
        ws.cell(row=row, column=1).alignment = _CENTER
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
        row += 1
    ws.cell(row=row, column=1, value=_unit(report))
    row = _place(ws, sheet.head, row + 1, bold=True)
    sums: list[tuple[int, float]] = []
    row = _place(ws, sheet.body, row, bold=False, sums=sums)
    if sums:
        row = _sums_row(ws, row, sums)
    for text in [*sheet.notes, "", *(f"{s}：" for s in SIGNATURES)]:
        row += 1
        ws.cell(row=row, column=1, value=text or None)
    for line in ws.iter_rows():
        for c in line:
            guard_text(c)
    ws.column_dimensions["A"].width = 28
    for c in range(2, width + 1):
        ws.column_dimensions[get_column_letter(c)].width = 12


def to_xlsx(report: WeeklyReport) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for sheet in sheets(report):
        _sheet(wb, sheet, report)
    wb.properties.title = f"打击欺诈骗保工作周报表 {report.region} {report.week}"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
