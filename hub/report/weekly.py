"""The weekly report 打击欺诈骗保工作周报表（一）（二）（三）, computed from the audit log.

Seed 004 asks every county and city for three forms each week.  This module computes them from
the ``delivered`` and ``closed`` records of the audit log; it holds no database code
(``weekly_report_from_store`` only feeds it the store's records), so the rules below are all
there is to it.

Scope
    A *region* (six digits) covers every clue hand-off (``delivered``, family ``clue_transfer``)
    whose ``routed_to`` is an ``MIB`` connector in that region or under it: 350000 covers 35xxxx,
    350500 covers 3505xx, a county only itself (``hub.trust.regions.prefix``).  Hand-offs
    to other agencies (PSB, HEALTH …) are not the bureau's own clue work and never count.

Week
    ``2024-W25`` is the ISO week, Monday 00:00 to the next Monday 00:00 China Standard Time
    (UTC+8).  Its end is the report's cut-off: form 3 is the state as at that instant.

Clues
    A clue is its ``clue_id``; a clue handed on inside the region (city → county) has several
    hand-offs there but counts once.  Its origin (``batch_source``, ``batch_number``) is taken
    from its *first* delivery into the region, because a relaying bureau may re-label the batch
    of what it passes on.
    A clue is *closed* (已办结) when a ``closed`` record of family ``closure`` (not
    ``invoice_verification_result``) answers any of its hand-offs in the region before the cut-off;
    it is *verified true* (查证属实) when such a closure's result is VERIFIED_TRUE or
    PARTIALLY_TRUE: a partly confirmed report still uncovered a violation (the seed's 注).

Form 3 (三), cumulative at the cut-off
    Clues first delivered into the region before the cut-off: batch_source NATIONAL_BUREAU →
    国家局移交线索, PROVINCIAL_BUREAU → 省局移交线索, one row per ``batch_number`` dated by the
    earliest delivery (BEIJING) of that batch's clues in the region; WHISTLEBLOWER → one totals row.
    Columns: 移交总数 (distinct clues), 已办结数量, 查证属实线索数量.  Other sources are not on
    the form.

Forms 1 and 2 (一, 二), the week's closures
    A clue counts in the week in which it was *first* closed in the region (the closure's
    ``occurred_at``, when the hub recorded it), with that closure's facts.  Later closures of the
    same clue in the region are the same case reported up the chain (county → city → province)
    and are not counted again; they are mentioned in ``notes``.
    The subject comes from the closed hand-off's delivered record: HOSPITAL → 定点医疗机构,
    PHARMACY → 定点药店 (form 1), INSURED_PERSON → 参保人员 (form 2); other subjects (doctors,
    fund handlers …) are on neither form and are counted in ``notes``.
    A row's count is the sum of the closures' sanction counts of its kinds (``FORM1_ROWS``,
    ``FORM2_ROWS``); 追回 rows sum ``recovered_fen``.  通报批评, 为患者追回资金 and 月营业额 are
    not carried by closures and are left for hand entry.  减少基金损失 (rows 3, 4 and 合计 of
    form 1): 违规额 sums the clue's ``amount_fen`` and 罚没额 the closure's ``penalties_fen`` over
    the closures carrying that sanction; 合计 over closures carrying either, each once.
    合计（不重复数）counts distinct ``subject_ref`` with any sanction, plus the sum recovered.

Money
    Sums stay in fen; ``fen_to_wan`` gives 万元 (÷ 1,000,000) with two decimals, ROUND_HALF_UP.

Gaps
    A closure whose hand-off has no delivered record in the log (the log started later) cannot
    be placed on a form, since the subject and the clue are only known from that record; when
    it was recorded in the week by an MIB connector of the region it is listed in ``notes`` with
    its result and sums, to be added by hand.  Unreadable facts of the region's records are read
    as absent and noted too.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.core.clock import BEIJING
from hub.trust import regions

if TYPE_CHECKING:
    from hub.audit.store import AuditStore


from hub.report.forms import (
    BatchRow,
    ClueTally,
    Form1,
    Form2,
    Form3,
    SubjectTally,
    WeeklyReport,
)
from hub.report.reader import (
    Closure,
    HandOff,
    _Reader,
)
from hub.report.rules import (
    _NOTE_LIMIT,
    HOSPITAL,
    INSURED_PERSON,
    NATIONAL,
    PHARMACY,
    PROVINCIAL,
    RESULT_NAMES,
    SANCTION_NAMES,
    SUBJECT_NAMES,
    VERIFIED_RESULTS,
    WHISTLEBLOWER,
    check_region,
    cst_date,
    fen_to_wan,
    in_region,
    week_bounds,
)


def build_weekly_report(
    records: Iterable[Mapping[str, Any]], region: str, week: str
) -> WeeklyReport:
    """Forms 1–3 for ``region`` and ``week`` from audit records (any order; see the module doc)."""
    region = check_region(region)
    start, end = week_bounds(week)
    reader = _Reader(regions.prefix(region))
    reader.read(records)

    by_clue: dict[str, list[HandOff]] = defaultdict(list)
    for h in reader.handoffs.values():
        by_clue[h.clue_id].append(h)
    closures_of: dict[str, list[Closure]] = defaultdict(list)
    for c in reader.closures:
        closures_of[c.conversation_id].append(c)

    clues = []
    for handoffs in by_clue.values():
        handoffs.sort(key=lambda h: (h.delivered_at, h.seq))
        closures = sorted(
            (c for h in handoffs for c in closures_of.get(h.message_id, ())),
            key=lambda c: (c.occurred_at, c.seq),
        )
        clues.append((handoffs, closures))

    notes = list(reader.notes)
    form3 = _form3(clues, end)
    form1, form2 = _forms12(clues, reader.handoffs, start, end, notes)
    notes += _orphans(reader, start, end)
    return WeeklyReport(
        region=region,
        week=week.strip().upper(),
        start=start,
        end=end,
        form1=form1,
        form2=form2,
        form3=form3,
        notes=tuple(notes),
    )


_Clue = tuple[list[HandOff], list[Closure]]


def _form3(clues: list[_Clue], end: datetime) -> Form3:
    batches: dict[str, dict[int | None, BatchRow]] = {NATIONAL: {}, PROVINCIAL: {}}
    whistle = ClueTally()
    for handoffs, closures in clues:
        first = handoffs[0]
        if first.delivered_at >= end:
            continue
        done = [c for c in closures if c.occurred_at < end]
        closed = bool(done)
        verified = any(c.result in VERIFIED_RESULTS for c in done)
        if first.source == WHISTLEBLOWER:
            whistle.add(closed, verified)
        elif first.source in batches:
            day = cst_date(first.delivered_at)
            rows = batches[first.source]
            row = rows.setdefault(first.batch_number, BatchRow(first.batch_number, day))
            row.first_delivered = min(row.first_delivered, day)
            row.tally.add(closed, verified)

    def ordered(rows: dict[int | None, BatchRow]) -> list[BatchRow]:
        return sorted(rows.values(), key=lambda b: (b.number is None, b.number or 0))

    return Form3(ordered(batches[NATIONAL]), ordered(batches[PROVINCIAL]), whistle)


def _forms12(
    clues: list[_Clue],
    handoffs: Mapping[str, HandOff],
    start: datetime,
    end: datetime,
    notes: list[str],
) -> tuple[Form1, Form2]:
    columns = {HOSPITAL: SubjectTally(), PHARMACY: SubjectTally(), INSURED_PERSON: SubjectTally()}
    off_form: Counter[str] = Counter()
    repeats = 0
    for _, closures in clues:
        if not closures:
            continue
        first, *later = closures
        repeats += sum(start <= c.occurred_at < end for c in later)
        if not start <= first.occurred_at < end:
            continue
        handoff = handoffs[first.conversation_id]
        column = columns.get(handoff.subject_kind)
        if column is None:
            off_form[handoff.subject_kind or "未注明"] += 1
        else:
            column.add(handoff, first)
    if repeats:
        notes.append(
            f"本周另有 {repeats} 件办结针对区内此前已办结的线索（如县区办结后市局再上报），"
            "每条线索只在首次办结时计入表一、表二。"
        )
    if off_form:
        kinds = "，".join(f"{SUBJECT_NAMES.get(k, k)} {n} 件" for k, n in sorted(off_form.items()))
        notes.append(f"本周办结的其他对象线索不在表一、表二：{kinds}。")
    return Form1(columns[HOSPITAL], columns[PHARMACY]), Form2(columns[INSURED_PERSON])


def _orphans(reader: _Reader, start: datetime, end: datetime) -> list[str]:
    """Closures of the region, in the week, whose hand-off is not in the log."""
    lost = [
        c
        for c in reader.closures
        if c.conversation_id not in reader.delivered_ids
        and in_region(c.sender, reader.prefix)
        and start <= c.occurred_at < end
    ]
    lost.sort(key=lambda c: (c.occurred_at, c.seq))
    out = []
    for c in lost[:_NOTE_LIMIT]:
        sanctions = "，".join(
            f"{SANCTION_NAMES[k]} {n}" for k, n in sorted(c.sanctions.items()) if n
        )
        result = RESULT_NAMES.get(c.result, c.result or "未注明")
        out.append(
            f"{c.sender} 于 {c.occurred_at.astimezone(BEIJING):%Y-%m-%d %H:%M}（北京时间）办结的 "
            f"{c.conversation_id} 在日志中没有移交"
            f"记录（日志可能晚于移交开始），未计入各表：结果 {result}，"
            f"追回 {fen_to_wan(c.recovered_fen)} 万元，罚没 {fen_to_wan(c.penalties_fen)} 万元，"
            f"处理 {sanctions or '无'}。"
        )
    if len(lost) > _NOTE_LIMIT:
        out.append(f"另有 {len(lost) - _NOTE_LIMIT} 件同类办结未列出。")
    return out


def weekly_report_from_store(store: AuditStore, region: str, week: str) -> WeeklyReport:
    """The report from an audit store: its delivered and closed records, oldest first."""
    check_region(region)
    week_bounds(week)  # refuse a bad week before reading the whole log
    return build_weekly_report(store.events_of_kinds(["delivered", "closed"]), region, week)
