"""The weekly report as a workbook: a sheet per form holding exactly what the CSV holds, the
spanned headings merged, and every number a number (万元 as decimals shown with two places)."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from hub.report.render import sheet_rows, sheets
from hub.report.xlsx import to_xlsx, value_of
from tests.report.test_weekly_report import _small_report
from tests.report.workbook_json import mismatches


def test_the_workbook_holds_the_forms_cell_by_cell_with_numbers_as_numbers() -> None:
    report = _small_report()
    wb = load_workbook(io.BytesIO(to_xlsx(report)))
    assert wb.sheetnames == ["form1", "form2", "form3"]
    numbers = 0
    for sheet in sheets(report):
        ws = wb[sheet.key]
        expected = [[value_of(t) for t in row] for row in sheet_rows(sheet, report)]
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


def test_sums_in_wan_are_decimals_shown_with_two_places() -> None:
    wb = load_workbook(io.BytesIO(to_xlsx(_small_report())))
    decimals = [c for row in wb["form1"].iter_rows() for c in row if isinstance(c.value, float)]
    assert decimals and all(c.number_format == "0.00" for c in decimals)


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
