"""Reads the weekly report's workbook by the forms' layout (临医保发〔2019〕8号) and sets every
figure cell beside the figure ``hub report weekly --format json`` gives for it.

Written from the notice's drawing of the forms, not from the hub's renderer: where the layout
puts a number is stated here again, so a workbook whose cells drift from the JSON, or from the
forms, is caught.
"""

from __future__ import annotations

from typing import Any

#: Form 1 and 2 rows by 序号: the sanction kinds summed into the row, "money" for the sums
#: recovered, None for what the log does not carry (the cell shows "—").
FORM1 = {
    1: ("INTERVIEW",), 2: None, 3: ("SUSPENSION",), 4: ("AGREEMENT_TERMINATED",),
    5: ("BLACKLISTED",), 6: ("FINED",), 7: ("REFERRED_TO_JUDICIAL",), 8: "money", 9: None,
    10: ("OTHER",),
}  # fmt: skip
FORM2 = {
    1: ("INTERVIEW",), 2: ("SUSPENSION",), 3: ("FINED",), 4: ("REFERRED_TO_JUDICIAL",),
    5: ("OTHER", "BLACKLISTED", "AGREEMENT_TERMINATED"), 6: "money",
}  # fmt: skip
#: Form 1's 减少基金损失 cells: columns E-G for hospitals, H-J for pharmacies.
LOSS_ROWS = {3: "SUSPENSION", 4: "AGREEMENT_TERMINATED"}
TOTAL = "合计（不重复数）"
SUMS = "其中：追回金额（万元）"
NOT_CARRIED = "—"


def _same(cell: object, want: object) -> bool:
    if isinstance(want, str) and want.replace(".", "", 1).isdigit() and "." in want:
        # 万元: a number (25.00 reads back as 25), never the text
        return (
            isinstance(cell, (int, float)) and not isinstance(cell, bool) and f"{cell:.2f}" == want
        )
    if isinstance(want, int):
        return isinstance(cell, int) and not isinstance(cell, bool) and cell == want
    return cell == want


def _rows(ws: Any) -> list[tuple[Any, ...]]:
    return [tuple(c.value for c in row) for row in ws.iter_rows()]


def _numbered(rows: list[tuple[Any, ...]], n: int) -> dict[int, tuple[Any, ...]]:
    found = {r[0]: r for r in rows if isinstance(r[0], int) and 1 <= r[0] <= n}
    assert sorted(found) == list(range(1, n + 1)), f"rows 1-{n} not all found"
    return found


def _total_row(rows: list[tuple[Any, ...]], label: str) -> tuple[Any, ...]:
    return next(r for r in rows if r[0] == label)


def _sums_row(rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The row under a 合计（不重复数）row that holds its sums recovered, 万元, as numbers."""
    return next(r for r in rows if r[0] == SUMS)


def _row_value(tally: dict[str, Any], spec: Any) -> object:
    if spec is None:
        return NOT_CARRIED
    if spec == "money":
        return tally["recovered_wan"]
    return sum(tally["sanctions"][k] for k in spec)


def _loss(loss: dict[str, Any]) -> list[object]:
    return [NOT_CARRIED, loss["violation_wan"], loss["penalties_wan"]]


def mismatches(book: Any, report: dict[str, Any]) -> list[str]:
    """Every figure cell that differs from the JSON report, as 'sheet!cell: got … want …';
    empty when the workbook holds exactly the report's figures where the forms put them."""
    out: list[str] = []

    def check(sheet: str, where: str, got: object, want: object) -> None:
        if not _same(got, want):
            out.append(f"{sheet}!{where}: got {got!r}, want {want!r}")

    f1, rows = report["form1"], _rows(book["form1"])
    for no, row in _numbered(rows, len(FORM1)).items():
        for col, side in ((2, "hospital"), (3, "pharmacy")):
            check("form1", f"row {no} col {col + 1}", row[col], _row_value(f1[side], FORM1[no]))
        for first, side in ((4, "hospital"), (7, "pharmacy")):
            want = _loss(f1[side]["loss"][LOSS_ROWS[no]]) if no in LOSS_ROWS else ["---"] * 3
            for i, w in enumerate(want):
                check("form1", f"row {no} col {first + i + 1}", row[first + i], w)
    total, sums = _total_row(rows, TOTAL), _sums_row(rows)
    for col, side in ((2, "hospital"), (3, "pharmacy")):
        t = f1[side]
        check("form1", f"total col {col + 1}", total[col], int(t["distinct_sanctioned"]))
        check("form1", f"total sum col {col + 1}", sums[col], t["recovered_wan"])
    for first, side in ((4, "hospital"), (7, "pharmacy")):
        for i, w in enumerate(_loss(f1[side]["loss_total"])):
            check("form1", f"total col {first + i + 1}", total[first + i], w)

    persons, rows = report["form2"]["insured_persons"], _rows(book["form2"])
    for no, row in _numbered(rows, len(FORM2)).items():
        check("form2", f"row {no}", row[2], _row_value(persons, FORM2[no]))
    check("form2", "total", _total_row(rows, TOTAL)[2], int(persons["distinct_sanctioned"]))
    check("form2", "total sum", _sums_row(rows)[2], persons["recovered_wan"])

    f3, rows = report["form3"], _rows(book["form3"])
    top = next(i for i, r in enumerate(rows) if r[0] == "批次 (日期)") + 1
    end = next(i for i, r in enumerate(rows) if r[0] == "合计")
    body = rows[top:end]
    keys = ("total", "closed", "verified")
    for side, first in (("national", 0), ("provincial", 4)):
        batches = f3[side] or []
        for i, row in enumerate(body):
            b = batches[i] if i < len(batches) else None
            want = [b["label"], *(b[k] for k in keys)] if b else [None] * 4
            for j, w in enumerate(want):
                check("form3", f"{side} batch {i + 1} col {first + j + 1}", row[first + j], w)
        if len(batches) > len(body):
            out.append(f"form3: {len(batches)} {side} batches, {len(body)} rows")
        for j, k in enumerate(keys):
            check("form3", f"{side} total", rows[end][first + 1 + j], f3[f"{side}_total"][k])
    for j, k in enumerate(keys):
        check("form3", f"whistleblower {k}", body[0][8 + j], f3["whistleblower"][k])
    return out
