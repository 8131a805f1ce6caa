"""The weekly report 打击欺诈骗保工作周报表（一）（二）（三）, computed from the audit log.

Seed 004 asks every county and city for three forms each week.  This module computes them from
the ``delivered`` and ``closed`` records of the audit log; it holds no database code
(``weekly_report_from_store`` only feeds it the store's records), so the rules below are all
there is to it.

Scope
    A *region* (six digits) covers every clue hand-off (``delivered``, family ``clue_transfer``)
    whose ``routed_to`` is an ``MIB`` connector in that region or under it: 350000 covers 35xxxx,
    350500 covers 3505xx, a county only itself (``hub.audit.store.region_prefix``).  Hand-offs
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

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from hub.audit.store import region_prefix
from hub.core.clock import BEIJING, as_utc, iso_ms, parse_iso
from hub.trust import regions

if TYPE_CHECKING:
    from hub.audit.store import AuditStore


NATIONAL = "NATIONAL_BUREAU"
PROVINCIAL = "PROVINCIAL_BUREAU"
WHISTLEBLOWER = "WHISTLEBLOWER"

HOSPITAL = "HOSPITAL"
PHARMACY = "PHARMACY"
INSURED_PERSON = "INSURED_PERSON"

SANCTION_KINDS = (
    "INTERVIEW",
    "SUSPENSION",
    "AGREEMENT_TERMINATED",
    "BLACKLISTED",
    "FINED",
    "REFERRED_TO_JUDICIAL",
    "OTHER",
)
#: The sanctions whose 减少基金损失 form 1 asks for (rows 3 and 4).
LOSS_KINDS = ("SUSPENSION", "AGREEMENT_TERMINATED")
VERIFIED_RESULTS = frozenset({"VERIFIED_TRUE", "PARTIALLY_TRUE"})

#: Chinese names for the notes, which are read alongside the forms.
SANCTION_NAMES = {
    "INTERVIEW": "约谈",
    "SUSPENSION": "暂停结算",
    "AGREEMENT_TERMINATED": "解除协议",
    "BLACKLISTED": "列入黑名单",
    "FINED": "行政处罚",
    "REFERRED_TO_JUDICIAL": "移送司法",
    "OTHER": "其他",
}
RESULT_NAMES = {
    "VERIFIED_TRUE": "查证属实",
    "PARTIALLY_TRUE": "部分属实",
    "NOT_TRUE": "不属实",
    "OTHER": "其他",
}
SUBJECT_NAMES = {
    "FUND_HANDLER": "经办机构",
    "OTHER_INSTITUTION": "其他机构",
    "DOCTOR": "医务人员",
    "OTHER_PERSON": "其他人员",
}

_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_NOTE_LIMIT = 20


# -- small rules -------------------------------------------------------------------------------


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """The ISO week ``YYYY-Www`` as [Monday 00:00, next Monday 00:00) CST, in UTC."""
    m = _WEEK.fullmatch(week.strip().upper())
    if not m:
        raise ValueError(f"week {week!r} is not an ISO week like 2024-W25")
    year, number = int(m.group(1)), int(m.group(2))
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"week {week!r} does not exist: {year} has no ISO week {number}") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=BEIJING).astimezone(UTC)
    return start, start + timedelta(days=7)


def check_region(region: str) -> str:
    region = region.strip()
    if not regions.is_region(region):
        raise ValueError(f"region {region!r} is not a six-digit region code like 350500")
    return region


def fen_to_wan(fen: int) -> str:
    """Fen as 万元 with two decimals, half up: 12_345_000 → '12.35'."""
    wan = (Decimal(fen) / Decimal(1_000_000)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{wan:.2f}"


_DIGITS = "〇一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 21 → 二十一; outside 1–99 Arabic digits (第100批 reads fine)."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[ones] if ones else "")


def cst_date(instant: datetime) -> date:
    return instant.astimezone(BEIJING).date()


def in_region(address: str | None, prefix: str) -> bool:
    """An MIB connector at or under the region whose code prefix is ``prefix``."""
    agency, _, code = (address or "").partition("@")
    return agency == "MIB" and code.startswith(prefix)


# -- the log, read ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HandOff:
    """One delivered clue hand-off into the region."""

    message_id: str
    clue_id: str
    delivered_at: datetime
    seq: int
    source: str
    batch_number: int | None
    subject_kind: str
    subject_ref: str
    amount_fen: int


@dataclass(frozen=True)
class Closure:
    conversation_id: str
    occurred_at: datetime
    seq: int
    sender: str
    result: str
    recovered_fen: int
    penalties_fen: int
    sanctions: Mapping[str, int]

    def sanctioned(self) -> bool:
        return any(n > 0 for n in self.sanctions.values())


class _Reader:
    """Turns audit records into hand-offs and closures, noting what it could not read."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.handoffs: dict[str, HandOff] = {}
        self.delivered_ids: set[str] = set()
        self.closures: list[Closure] = []
        self.notes: list[str] = []

    def read(self, records: Iterable[Mapping[str, Any]]) -> None:
        for r in records:
            if r.get("kind") == "delivered":
                self._delivered(r)
            elif r.get("kind") == "closed" and r.get("family") == "closure":
                self._closed(r)

    def _delivered(self, r: Mapping[str, Any]) -> None:
        message_id = r.get("message_id") or ""
        self.delivered_ids.add(message_id)
        if r.get("family") != "clue_transfer" or not in_region(r.get("routed_to"), self.prefix):
            return
        if message_id in self.handoffs:  # a second delivery of the same message adds nothing
            return
        facts = self._facts(r)
        clue_id = facts.get("clue_id")
        if not clue_id:
            self._note(r, f"交接 {message_id} 无 clue_id，按一条独立线索计。")
            clue_id = f"message:{message_id}"
        number = self._int(facts, "batch_number", r, default=None)
        self.handoffs[message_id] = HandOff(
            message_id=message_id,
            clue_id=clue_id,
            delivered_at=_instant(r["occurred_at"]),
            seq=int(r.get("seq") or 0),
            source=facts.get("batch_source", ""),
            batch_number=number,
            subject_kind=facts.get("subject_kind", ""),
            # Without a subject_ref the clue stands for its own subject in distinct counts.
            subject_ref=facts.get("subject_ref") or f"clue:{clue_id}",
            amount_fen=self._int(facts, "amount_fen", r) or 0,
        )

    def _closed(self, r: Mapping[str, Any]) -> None:
        facts = self._facts(r)
        sanctions: Counter[str] = Counter()
        raw = facts.get("sanctions")
        try:
            parsed = json.loads(raw) if raw else {}
            items = {str(k): int(v) for k, v in parsed.items()}
        except (ValueError, TypeError, AttributeError):
            self._note(r, f"sanctions 无法读取：{raw!r}，按无处理计。")
            items = {}
        for kind, n in items.items():
            if kind not in SANCTION_KINDS:
                self._note(r, f"处理类型 {kind!r} 未知，计入“其他”。")
                kind = "OTHER"
            sanctions[kind] += n
        self.closures.append(
            Closure(
                conversation_id=r.get("conversation_id") or "",
                occurred_at=_instant(r["occurred_at"]),
                seq=int(r.get("seq") or 0),
                sender=r.get("sender") or "",
                result=facts.get("result", ""),
                recovered_fen=self._int(facts, "recovered_fen", r) or 0,
                penalties_fen=self._int(facts, "penalties_fen", r) or 0,
                sanctions=dict(sanctions),
            )
        )

    def _facts(self, r: Mapping[str, Any]) -> dict[str, str]:
        raw = r.get("facts") or {}
        if isinstance(raw, Mapping):
            return {str(k): str(v) for k, v in raw.items()}
        try:
            return {str(k): str(v) for k, v in json.loads(raw).items()}
        except (ValueError, AttributeError):
            self._note(r, "facts 无法读取，按空计。")
            return {}

    def _int(
        self, facts: Mapping[str, str], name: str, r: Mapping[str, Any], default: int | None = 0
    ) -> int | None:
        value = facts.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            self._note(r, f"{name}={value!r} 不是整数，按缺失计。")
            return default

    def _note(self, r: Mapping[str, Any], text: str) -> None:
        # Every closure is read, but another region's bad record is not this report's concern.
        if r.get("kind") == "delivered" or in_region(r.get("sender"), self.prefix):
            self.notes.append(f"审计记录 #{r.get('seq')}：{text}")


def _instant(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    return parse_iso(value)


# -- the forms ---------------------------------------------------------------------------------


@dataclass
class ClueTally:
    """移交总数, 已办结数量, 查证属实线索数量."""

    total: int = 0
    closed: int = 0
    verified: int = 0

    def add(self, closed: bool, verified: bool) -> None:
        self.total += 1
        self.closed += closed
        self.verified += verified

    def __iadd__(self, other: ClueTally) -> ClueTally:
        self.total += other.total
        self.closed += other.closed
        self.verified += other.verified
        return self

    def to_json(self) -> dict[str, int]:
        return {"total": self.total, "closed": self.closed, "verified": self.verified}


@dataclass
class BatchRow:
    """One batch (第N批) of form 3; ``number`` None when the hand-offs did not say."""

    number: int | None
    first_delivered: date
    tally: ClueTally = field(default_factory=ClueTally)

    @property
    def label(self) -> str:
        name = "批次不明" if self.number is None else f"第{chinese_number(self.number)}批"
        return f"{name} ({self.first_delivered.month}.{self.first_delivered.day})"

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_number": self.number,
            "label": self.label,
            "first_delivered": self.first_delivered.isoformat(),
            **self.tally.to_json(),
        }


def _total(rows: list[BatchRow]) -> ClueTally:
    out = ClueTally()
    for row in rows:
        out += row.tally
    return out


@dataclass(frozen=True)
class Form3:
    national: list[BatchRow]
    provincial: list[BatchRow]
    whistleblower: ClueTally

    @property
    def national_total(self) -> ClueTally:
        return _total(self.national)

    @property
    def provincial_total(self) -> ClueTally:
        return _total(self.provincial)

    def to_json(self) -> dict[str, Any]:
        return {
            "national": [b.to_json() for b in self.national],
            "national_total": self.national_total.to_json(),
            "provincial": [b.to_json() for b in self.provincial],
            "provincial_total": self.provincial_total.to_json(),
            "whistleblower": self.whistleblower.to_json(),
        }


@dataclass
class LossReduction:
    """减少基金损失 of one column; 月营业额 is not in the log."""

    violation_fen: int = 0
    penalties_fen: int = 0

    def add(self, violation_fen: int, penalties_fen: int) -> None:
        self.violation_fen += violation_fen
        self.penalties_fen += penalties_fen

    def to_json(self) -> dict[str, Any]:
        return {
            "violation_fen": self.violation_fen,
            "violation_wan": fen_to_wan(self.violation_fen),
            "penalties_fen": self.penalties_fen,
            "penalties_wan": fen_to_wan(self.penalties_fen),
        }


@dataclass(frozen=True)
class RowSpec:
    """One numbered row of form 1 or 2 and where its number comes from."""

    no: int
    label: str
    kinds: tuple[str, ...] = ()  # sanction kinds summed into the row
    money: bool = False  # the row is a sum recovered, in 万元
    carried: bool = True  # False: closures carry nothing for it; filled in by hand
    loss: bool = False  # the row has 减少基金损失 cells


FORM1_ROWS = (
    RowSpec(1, "约谈限期整改（家）", ("INTERVIEW",)),
    RowSpec(2, "通报批评（家）", carried=False),
    RowSpec(3, "暂停医保服务（家）", ("SUSPENSION",), loss=True),
    RowSpec(4, "解除定点协议（家）", ("AGREEMENT_TERMINATED",), loss=True),
    RowSpec(5, "列入医保黑名单（家）", ("BLACKLISTED",)),
    RowSpec(6, "行政处罚（家）", ("FINED",)),
    RowSpec(7, "移交司法机关（家）", ("REFERRED_TO_JUDICIAL",)),
    RowSpec(8, "追回医保基金（万元）", money=True),
    RowSpec(9, "为患者追回资金（万元）", money=True, carried=False),
    RowSpec(10, "其他处理情形（家）", ("OTHER",)),
)

FORM2_ROWS = (
    RowSpec(1, "约谈（人）", ("INTERVIEW",)),
    RowSpec(2, "暂停医保卡结算（人）", ("SUSPENSION",)),
    RowSpec(3, "行政处罚（人）", ("FINED",)),
    RowSpec(4, "移交司法机关（人）", ("REFERRED_TO_JUDICIAL",)),
    # A person is not blacklisted or de-contracted as such on this form: those land in 其他.
    RowSpec(5, "其他处理形式（人，如有请注明）", ("OTHER", "BLACKLISTED", "AGREEMENT_TERMINATED")),
    RowSpec(6, "追回骗取医保基金（万元，小数点两位）", money=True),
)


@dataclass
class SubjectTally:
    """The week's counted closures of one kind of subject (one column of form 1, or form 2)."""

    closures: int = 0
    sanctions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SANCTION_KINDS, 0))
    recovered_fen: int = 0
    loss: dict[str, LossReduction] = field(
        default_factory=lambda: {k: LossReduction() for k in LOSS_KINDS}
    )
    loss_total: LossReduction = field(default_factory=LossReduction)
    sanctioned_refs: set[str] = field(default_factory=set, repr=False)

    def add(self, handoff: HandOff, closure: Closure) -> None:
        self.closures += 1
        for kind, n in closure.sanctions.items():
            self.sanctions[kind] += n
        self.recovered_fen += closure.recovered_fen
        if closure.sanctioned():
            self.sanctioned_refs.add(handoff.subject_ref)
        hits = [k for k in LOSS_KINDS if closure.sanctions.get(k, 0) > 0]
        for kind in hits:
            self.loss[kind].add(handoff.amount_fen, closure.penalties_fen)
        if hits:
            self.loss_total.add(handoff.amount_fen, closure.penalties_fen)

    @property
    def distinct_sanctioned(self) -> int:
        return len(self.sanctioned_refs)

    def count(self, kinds: Iterable[str]) -> int:
        return sum(self.sanctions.get(k, 0) for k in kinds)

    def cell(self, spec: RowSpec) -> str:
        """The row's value as the form shows it; '—' for what the log does not carry."""
        if not spec.carried:
            return "—"
        if spec.money:
            return fen_to_wan(self.recovered_fen)
        return str(self.count(spec.kinds))

    def to_json(self) -> dict[str, Any]:
        return {
            "closures": self.closures,
            "sanctions": dict(self.sanctions),
            "recovered_fen": self.recovered_fen,
            "recovered_wan": fen_to_wan(self.recovered_fen),
            "loss": {k: v.to_json() for k, v in self.loss.items()},
            "loss_total": self.loss_total.to_json(),
            "distinct_sanctioned": self.distinct_sanctioned,
        }


@dataclass(frozen=True)
class Form1:
    hospital: SubjectTally
    pharmacy: SubjectTally

    def to_json(self) -> dict[str, Any]:
        return {"hospital": self.hospital.to_json(), "pharmacy": self.pharmacy.to_json()}


@dataclass(frozen=True)
class Form2:
    persons: SubjectTally

    def to_json(self) -> dict[str, Any]:
        return {"insured_persons": self.persons.to_json()}


@dataclass(frozen=True)
class WeeklyReport:
    region: str
    week: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive; the cut-off of form 3
    form1: Form1
    form2: Form2
    form3: Form3
    notes: tuple[str, ...] = ()

    @property
    def region_label(self) -> str:
        return regions.describe(self.region)

    @property
    def level(self) -> str:
        """'province', 'city' or 'county': the seed words its forms for 市 and for 县区."""
        return regions.level(self.region)

    @property
    def first_day(self) -> date:
        return cst_date(self.start)

    @property
    def last_day(self) -> date:
        return cst_date(self.end) - timedelta(days=1)

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "region_label": self.region_label,
            "week": self.week,
            "start": iso_ms(self.start),
            "end": iso_ms(self.end),
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "form1": self.form1.to_json(),
            "form2": self.form2.to_json(),
            "form3": self.form3.to_json(),
            "notes": list(self.notes),
        }


# -- computing ---------------------------------------------------------------------------------


def build_weekly_report(
    records: Iterable[Mapping[str, Any]], region: str, week: str
) -> WeeklyReport:
    """Forms 1–3 for ``region`` and ``week`` from audit records (any order; see the module doc)."""
    region = check_region(region)
    start, end = week_bounds(week)
    reader = _Reader(region_prefix(region))
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
