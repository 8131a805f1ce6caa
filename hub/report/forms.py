"""The three forms of 临医保发〔2019〕8号 as data: tallies, rows, and the whole weekly report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hub.core.clock import iso_ms
from hub.trust import regions

if TYPE_CHECKING:
    pass


from hub.report.reader import Closure, HandOff
from hub.report.rules import (
    LOSS_KINDS,
    SANCTION_KINDS,
    chinese_number,
    cst_date,
    fen_to_wan,
)


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
