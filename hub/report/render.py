"""The weekly report laid out like the forms of 临医保发〔2019〕8号: CSV for Excel, one printable
HTML page, text.

Each form is first described once as a ``Sheet`` (heading rows with their row and column spans,
body rows, footnotes); ``to_csv`` flattens the spans into a grid, ``to_html`` keeps them.  So
the two outputs cannot drift apart.  Cells the seed marks "---" (not to be filled) keep that
mark; "—" marks a figure the audit log does not carry, to be entered by hand.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass

from hub.core.table import render_table
from hub.report.forms import (
    FORM1_ROWS,
    FORM2_ROWS,
    BatchRow,
    ClueTally,
    LossReduction,
    SubjectTally,
    WeeklyReport,
)
from hub.report.rules import fen_to_wan

TITLES = {
    "form1": "打击欺诈骗保工作周报表（一）",
    "form2": "打击欺诈骗保工作周报表（二）",
    "form3": "打击欺诈骗保工作周报表（三）",
}
SIGNATURES = ("单位负责人签章", "处（科）负责人签章", "填表人签章", "联系电话", "电子邮箱")
NOT_APPLICABLE = "---"
NOT_CARRIED = "—"
#: The remarks the seed prints in form 1's 备注 column, for hand entry.
FORM1_REMARKS = (
    "统筹区内定点医疗机构共____家，检查定点医疗机构合计____家，其中现场检查____家。",
    "统筹区内定点药店共____家，检查定点药店合计____家，其中现场检查____家。",
    "追回资金____万元，其中：医保基金____万元，个人____万元。",
)
NOT_CARRIED_NOTE = "“—”：审计日志不含此项（通报批评、为患者追回资金、月营业额），请人工填报。"


@dataclass(frozen=True)
class Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1
    cls: str = ""


@dataclass(frozen=True)
class Sheet:
    key: str  # file stem: form1, form2, form3
    title: str
    subtitle: str
    head: list[list[Cell]]
    body: list[list[Cell]]
    notes: list[str]


def _c(text: object, cls: str = "num", colspan: int = 1, rowspan: int = 1) -> Cell:
    return Cell(str(text), colspan, rowspan, cls)


def _unit(report: WeeklyReport) -> str:
    """The seed's form is headed 市 or 县区; the unit is the region itself."""
    word = {"province": "省", "city": "市", "county": "县区"}[report.level]
    return (
        f"填报单位（{word}）：{report.region_label}　　周次：{report.week}"
        f"（{report.first_day:%Y-%m-%d} 至 {report.last_day:%Y-%m-%d}，北京时间）"
    )


# -- the three sheets --------------------------------------------------------------------------


def _loss_cells(loss: LossReduction | None) -> list[Cell]:
    if loss is None:
        return [_c(NOT_APPLICABLE, "na")] * 3
    return [
        _c(NOT_CARRIED, "nc"),
        _c(fen_to_wan(loss.violation_fen)),
        _c(fen_to_wan(loss.penalties_fen)),
    ]


def _total_cell(tally: SubjectTally, unit: str) -> Cell:
    return _c(f"{tally.distinct_sanctioned}{unit}，{fen_to_wan(tally.recovered_fen)}万元")


def form1_sheet(report: WeeklyReport) -> Sheet:
    h, p = report.form1.hospital, report.form1.pharmacy
    head = [
        [
            _c("序号", "th", rowspan=3),
            _c("处理结果类型", "th", rowspan=3),
            _c("处理机构数量", "th", colspan=2),
            _c("减少基金损失", "th", colspan=6),
            _c("备注", "th", rowspan=3),
        ],
        [
            _c("定点医疗机构", "th", rowspan=2),
            _c("定点药店", "th", rowspan=2),
            _c("定点医疗机构", "th", colspan=3),
            _c("定点药店", "th", colspan=3),
        ],
        [_c(t, "th") for t in ("月营业额", "违规额", "罚没额") * 2],
    ]
    body = []
    for i, spec in enumerate(FORM1_ROWS):
        body.append(
            [
                _c(spec.no),
                _c(spec.label, "label"),
                _c(h.cell(spec)),
                _c(p.cell(spec)),
                *_loss_cells(h.loss[spec.kinds[0]] if spec.loss else None),
                *_loss_cells(p.loss[spec.kinds[0]] if spec.loss else None),
                _c(FORM1_REMARKS[i] if i < len(FORM1_REMARKS) else "", "remark"),
            ]
        )
    body.append(
        [
            _c("合计（不重复数）", "label", colspan=2),
            _total_cell(h, "家"),
            _total_cell(p, "家"),
            *_loss_cells(h.loss_total),
            *_loss_cells(p.loss_total),
            _c("", "remark"),
        ]
    )
    notes = ["注：减少基金损失，只填写“暂停医保服务”、“解除定点协议”和“合计”3项。"]
    if report.level == "county":
        notes.append("各县区建章立制名称_____，数量_____个。")
    notes += [
        NOT_CARRIED_NOTE,
        "处理机构数量为本周首次办结线索的处理次数之和；合计为受处理机构的不重复数及追回金额；"
        "违规额为相关线索的涉案金额，罚没额为办结所报罚没金额。",
    ]
    return Sheet("form1", TITLES["form1"], "定点服务机构", head, body, notes)


def form2_sheet(report: WeeklyReport) -> Sheet:
    t = report.form2.persons
    head = [
        [_c("参保人员", "th", colspan=3)],
        [_c("序号", "th"), _c("处理结果", "th"), _c("处理参保人员人数", "th")],
    ]
    body = [[_c(s.no), _c(s.label, "label"), _c(t.cell(s))] for s in FORM2_ROWS]
    body.append([_c("合计（不重复数）", "label", colspan=2), _total_cell(t, "人")])
    s = t.sanctions
    notes = [
        f"第5项含：其他 {s['OTHER']}，列入医保黑名单 {s['BLACKLISTED']}，"
        f"解除协议 {s['AGREEMENT_TERMINATED']}（人次）。",
        "人数为本周首次办结线索的处理次数之和；合计为受处理参保人员的不重复数及追回金额。",
    ]
    return Sheet("form2", TITLES["form2"], "", head, body, notes)


def _batch_cells(row: BatchRow | None) -> list[Cell]:
    if row is None:
        return [_c("", "label")] + [_c("")] * 3
    return [_c(row.label, "label"), *_tally_cells(row.tally)]


def _tally_cells(t: ClueTally) -> list[Cell]:
    return [_c(t.total), _c(t.closed), _c(t.verified)]


def form3_sheet(report: WeeklyReport) -> Sheet:
    f = report.form3
    whistle = "各县区" if report.level == "county" else "各市"
    head = [
        [
            _c("国家局移交线索办理情况", "th", colspan=4),
            _c("省局移交线索办理情况", "th", colspan=4),
            _c(f"{whistle}接收举报线索办理情况", "th", colspan=3),
        ],
        [
            *(_c(t, "th") for t in ("批次 (日期)", "移交总数", "已办结数量", "查证属实线索数量")),
            *(_c(t, "th") for t in ("批次 (日期)", "移交总数", "已办结数量", "查证属实线索数量")),
            *(_c(t, "th") for t in ("举报投诉线索总数", "已办结数量", "查证属实线索数量")),
        ],
    ]
    n = max(len(f.national), len(f.provincial), 1)
    body: list[list[Cell]] = []
    for i in range(n):
        row = [
            *_batch_cells(f.national[i] if i < len(f.national) else None),
            *_batch_cells(f.provincial[i] if i < len(f.provincial) else None),
        ]
        if i == 0:  # one totals row for whistle-blowers, beside all the batch rows
            row += [
                _c(v, rowspan=n)
                for v in (f.whistleblower.total, f.whistleblower.closed, f.whistleblower.verified)
            ]
        body.append(row)
    body.append(
        [
            _c("合计", "label"),
            *_tally_cells(f.national_total),
            _c("合计", "label"),
            *_tally_cells(f.provincial_total),
            *[_c("")] * 3,
        ]
    )
    notes = [
        "注：查证属实线索，是指经核查证实，举报投诉所反映的内容真实有效，从而发现违约违规违法行为的线索。",
        f"截至 {report.last_day:%Y-%m-%d} 24:00（北京时间）的累计数；"
        "批次日期为该批线索首次移交到本区的日期；办结结果为“查证属实”或“部分属实”的计为查证属实线索。",
    ]
    return Sheet("form3", TITLES["form3"], "", head, body, notes)


def sheets(report: WeeklyReport) -> list[Sheet]:
    return [form1_sheet(report), form2_sheet(report), form3_sheet(report)]


# -- CSV ---------------------------------------------------------------------------------------


def grid(rows: Sequence[Sequence[Cell]]) -> list[list[str]]:
    """Rows of spanned cells as a plain grid: a span's text in its first slot, the rest empty."""
    taken: set[tuple[int, int]] = set()
    out: list[list[str]] = []
    for r, row in enumerate(rows):
        line: list[str] = []
        for cell in row:
            while (r, len(line)) in taken:
                line.append("")
            c = len(line)
            taken.update(
                (r + dr, c + dc) for dr in range(cell.rowspan) for dc in range(cell.colspan)
            )
            line += [cell.text] + [""] * (cell.colspan - 1)
        while (r, len(line)) in taken:
            line.append("")
        out.append(line)
    return out


def sheet_rows(sheet: Sheet, report: WeeklyReport) -> list[list[str]]:
    rows = [[sheet.title]]
    if sheet.subtitle:
        rows.append([sheet.subtitle])
    rows.append([_unit(report)])
    rows += grid(sheet.head) + grid(sheet.body)
    rows += [[]] + [[n] for n in sheet.notes] + [[]] + [[f"{s}："] for s in SIGNATURES]
    return rows


def _csv_text(rows: list[list[str]], bom: bool) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    # Excel reads a UTF-8 file as the local code page unless it starts with a BOM.
    return ("\ufeff" if bom else "") + buf.getvalue()


def to_csv(report: WeeklyReport, *, bom: bool = True) -> dict[str, str]:
    """One CSV text per form, keyed by file name: form1.csv, form2.csv, form3.csv."""
    return {f"{s.key}.csv": _csv_text(sheet_rows(s, report), bom) for s in sheets(report)}


# -- HTML --------------------------------------------------------------------------------------

_CSS = """
@page { size: A4 landscape; margin: 12mm; }
body { font-family: "SimSun", "Songti SC", "Noto Serif CJK SC", serif; font-size: 11pt;
       color: #000; margin: 0 auto; max-width: 273mm; }
section { margin-bottom: 12mm; }
section + section { break-before: page; page-break-before: always; }
h1 { font-size: 16pt; text-align: center; margin: 0 0 2mm; letter-spacing: 1pt; }
h2 { font-size: 12pt; text-align: center; font-weight: normal; margin: 0 0 2mm; }
p.unit { margin: 0 0 2mm; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #000; padding: 1.2mm 1.5mm; text-align: center; vertical-align: middle; }
th { font-weight: bold; }
td.label { text-align: left; white-space: nowrap; }
td.remark { text-align: left; font-size: 9pt; width: 22%; }
td.na, td.nc { color: #444; }
ol.notes, p.note { font-size: 9.5pt; margin: 2mm 0; }
div.signatures { display: flex; flex-wrap: wrap; gap: 4mm 12mm; margin-top: 5mm; }
div.signatures span { min-width: 45mm; }
@media screen { body { padding: 8mm; } }
"""


def _cell_html(cell: Cell, header: bool) -> str:
    tag = "th" if header else "td"
    attrs = ""
    if cell.colspan > 1:
        attrs += f' colspan="{cell.colspan}"'
    if cell.rowspan > 1:
        attrs += f' rowspan="{cell.rowspan}"'
    if cell.cls and not header:
        attrs += f' class="{cell.cls}"'
    return f"<{tag}{attrs}>{html.escape(cell.text)}</{tag}>"


def _sheet_html(sheet: Sheet, report: WeeklyReport) -> str:
    e = html.escape
    parts = [f'<section id="{sheet.key}">', f"<h1>{e(sheet.title)}</h1>"]
    if sheet.subtitle:
        parts.append(f"<h2>{e(sheet.subtitle)}</h2>")
    parts.append(f'<p class="unit">{e(_unit(report))}</p>')
    parts.append("<table>\n<thead>")
    parts += ["<tr>" + "".join(_cell_html(c, True) for c in row) + "</tr>" for row in sheet.head]
    parts.append("</thead>\n<tbody>")
    parts += ["<tr>" + "".join(_cell_html(c, False) for c in row) + "</tr>" for row in sheet.body]
    parts.append("</tbody>\n</table>")
    parts += [f'<p class="note">{e(n)}</p>' for n in sheet.notes]
    parts.append(
        '<div class="signatures">'
        + "".join(f"<span>{e(s)}：</span>" for s in SIGNATURES)
        + "</div>"
    )
    parts.append("</section>")
    return "\n".join(parts)


def to_html(report: WeeklyReport) -> str:
    """One self-contained page: the three forms, one per printed A4 landscape sheet."""
    e = html.escape
    body = [_sheet_html(s, report) for s in sheets(report)]
    if report.notes:
        items = "".join(f"<li>{e(n)}</li>" for n in report.notes)
        body.append(f'<section id="notes"><h2>数据说明</h2><ol class="notes">{items}</ol>')
        body.append("</section>")
    title = f"打击欺诈骗保工作周报表 {report.region_label} {report.week}"
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# -- terminal ----------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return render_table(headers, rows)


def _batch_table(rows: list[BatchRow], total: ClueTally) -> str:
    body = [[b.label, str(b.tally.total), str(b.tally.closed), str(b.tally.verified)] for b in rows]
    body.append(["合计", str(total.total), str(total.closed), str(total.verified)])
    return _table(["批次 (日期)", "移交总数", "已办结数量", "查证属实线索数量"], body)


def to_text(report: WeeklyReport) -> str:
    """Form 3 in full and forms 1–2 in brief, for a terminal."""
    f3, f1, f2 = report.form3, report.form1, report.form2
    w = f3.whistleblower
    parts = [
        f"打击欺诈骗保工作周报表  {_unit(report)}",
        "",
        "（三）国家局移交线索办理情况",
        _batch_table(f3.national, f3.national_total),
        "",
        "（三）省局移交线索办理情况",
        _batch_table(f3.provincial, f3.provincial_total),
        "",
        "（三）接收举报线索办理情况",
        _table(
            ["举报投诉线索总数", "已办结数量", "查证属实线索数量"],
            [[str(w.total), str(w.closed), str(w.verified)]],
        ),
        "",
        "（一）定点服务机构（本周办结）",
        _table(
            ["序号", "处理结果类型", "定点医疗机构", "定点药店"],
            [[str(s.no), s.label, f1.hospital.cell(s), f1.pharmacy.cell(s)] for s in FORM1_ROWS]
            + [
                [
                    "",
                    "合计（不重复数）",
                    _total_cell(f1.hospital, "家").text,
                    _total_cell(f1.pharmacy, "家").text,
                ]
            ],
        ),
        "",
        "（二）参保人员（本周办结）",
        _table(
            ["序号", "处理结果", "处理参保人员人数"],
            [[str(s.no), s.label, f2.persons.cell(s)] for s in FORM2_ROWS]
            + [["", "合计（不重复数）", _total_cell(f2.persons, "人").text]],
        ),
    ]
    if report.notes:
        parts += ["", "说明："] + [f"- {n}" for n in report.notes]
    return "\n".join(parts) + "\n"
