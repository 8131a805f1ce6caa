"""The weekly report as a workbook: a sheet per form holding exactly what the CSV holds, the
spanned headings merged, and every number a number (万元 as decimals shown with two places)."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from hub.report.render import sheet_rows, sheets
from hub.report.xlsx import TOTAL_SUMS, TOTAL_TEXT, to_xlsx, value_of
from tests.report.test_weekly_report import _small_report
from tests.report.workbook_json import mismatches


def as_workbook_holds(rows: list[list[str]]) -> list[list[object]]:
    """The forms' rows as the workbook holds them: numbers as numbers, and each 合计 box's two
    figures ("2家，3.54万元") as two numbers, the sum in a row of its own under the table."""
    out: list[list[object]] = []
    for row in rows:
        totals = [TOTAL_TEXT.fullmatch(t) for t in row]
        pairs = zip(totals, row, strict=True)
        out.append([int(m.group(1)) if m else value_of(t) for m, t in pairs])
        if any(totals):
            out.append([TOTAL_SUMS if c == 0 else (float(m.group(3)) if m else "")
                        for c, m in enumerate(totals)])  # fmt: skip
    return out


def test_the_workbook_holds_the_forms_cell_by_cell_with_numbers_as_numbers() -> None:
    report = _small_report()
    wb = load_workbook(io.BytesIO(to_xlsx(report)))
    assert wb.sheetnames == ["form1", "form2", "form3"]
    numbers = 0
    for sheet in sheets(report):
        ws = wb[sheet.key]
        expected = as_workbook_holds(sheet_rows(sheet, report))
        for r, row in enumerate(expected, start=1):
            for c, want in enumerate(row, start=1):
                got = ws.cell(row=r, column=c).value
                assert got == (want if want != "" else None), (sheet.key, r, c)
                if isinstance(want, (int, float)):
                    numbers += 1
                    assert isinstance(got, (int, float)) and not isinstance(got, bool)
        assert ws.merged_cells.ranges  # the title and the spanned headings
    assert numbers > 40
    national = report.form3.national_total
    ws = wb["form3"]
    cells = [c.value for row in ws.iter_rows() for c in row]
    assert national.total in cells and isinstance(national.total, int)


def test_no_figure_is_text_and_totals_show_their_units() -> None:
    wb = load_workbook(io.BytesIO(to_xlsx(_small_report())))
    for ws in wb:
        for row in ws.iter_rows():
            for c in row:
                # Text is labels, notes and "—": never a figure, never two figures in one box.
                if isinstance(c.value, str):
                    assert not TOTAL_TEXT.search(c.value), (ws.title, c.coordinate, c.value)
                    assert not c.value.replace(".", "", 1).lstrip("-").isdigit(), c.coordinate
    form1 = wb["form1"]
    total = next(r for r in form1.iter_rows() if r[0].value == "合计（不重复数）")
    assert total[2].data_type == "n" and total[2].number_format == '0"家"'
    sums = next(r for r in form1.iter_rows() if r[0].value == TOTAL_SUMS)
    assert sums[2].data_type == "n" and sums[2].number_format == '0.00"万元"'
    person = next(r for r in wb["form2"].iter_rows() if r[0].value == "合计（不重复数）")
    assert person[2].data_type == "n" and person[2].number_format == '0"人"'


def test_sums_in_wan_are_decimals_shown_with_two_places() -> None:
    wb = load_workbook(io.BytesIO(to_xlsx(_small_report())))
    decimals = [c for row in wb["form1"].iter_rows() for c in row if isinstance(c.value, float)]
    # Two places everywhere; the 合计 sums also say their unit.
    assert decimals and all(c.number_format in ("0.00", '0.00"万元"') for c in decimals)


def test_every_figure_sits_where_the_forms_put_it_and_equals_the_json_report() -> None:
    report = _small_report()
    wb = load_workbook(io.BytesIO(to_xlsx(report)))
    assert mismatches(wb, report.to_json()) == []
    # The check reads the layout, not the renderer: one figure moved or changed is caught.
    ws = wb["form1"]
    row = next(r for r in ws.iter_rows() if r[0].value == 6)
    row[2].value = (row[2].value or 0) + 1
    total = next(r for r in wb["form3"].iter_rows() if r[0].value == "合计")
    total[1].value = str(total[1].value)  # the right figure, as text
    found = mismatches(wb, report.to_json())
    assert any(m.startswith("form1!row 6 col 3") for m in found)
    assert any(m.startswith("form3!national total") for m in found), found


def test_a_string_that_starts_like_a_formula_is_kept_as_text() -> None:
    from openpyxl import Workbook

    from hub.report.xlsx import guard_text

    ws = Workbook().active
    assert ws is not None
    cell = guard_text(ws.cell(row=1, column=1, value="=1+1"))
    assert (cell.data_type, cell.quotePrefix, cell.value) == ("s", True, "=1+1")
    plain = guard_text(ws.cell(row=1, column=2, value="晋江市"))
    assert (plain.data_type, plain.quotePrefix) == ("s", False)
    number = guard_text(ws.cell(row=1, column=3, value=-3))
    assert number.data_type == "n"
