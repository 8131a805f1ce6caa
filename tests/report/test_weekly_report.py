"""``hub report weekly``: the 周报表 forms 1–3 of 临医保发〔2019〕8号 computed from the audit log.

The main check generates a seeded random log (national, provincial and whistle-blower clues,
hand-ons from city to county, closures in and around the week, other regions and agencies,
look-alike records), stores it in an AuditStore on SQLite and on PostgreSQL, and compares every
cell of the three forms with counts made here by plain loops over the generated objects.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from hub.audit.events import AuditEvent
from hub.audit.schema import default_audit_url
from hub.audit.store import AuditStore
from hub.cli.report import add_parsers
from hub.core.config import Settings
from hub.report.forms import WeeklyReport
from hub.report.render import FORM1_REMARKS, to_csv, to_html, to_text
from hub.report.rules import chinese_number, fen_to_wan, week_bounds
from hub.report.weekly import build_weekly_report, weekly_report_from_store
from tests.databases import database

WEEK = "2024-W25"
# Written out rather than taken from week_bounds: Monday 2024-06-17 00:00 CST to Monday 06-24.
START = datetime(2024, 6, 16, 16, 0, tzinfo=UTC)
END = datetime(2024, 6, 23, 16, 0, tzinfo=UTC)

NATIONAL, PROVINCIAL, WHISTLE = "NATIONAL_BUREAU", "PROVINCIAL_BUREAU", "WHISTLEBLOWER"
LOSS = ("SUSPENSION", "AGREEMENT_TERMINATED")


# -- a generated audit log ---------------------------------------------------------------------


@dataclass
class GenClosure:
    id: str
    at: datetime
    result: str
    recovered: int
    penalties: int
    sanctions: dict[str, int]


@dataclass
class GenHandOff:
    id: str
    clue_id: str
    sender: str
    routed_to: str
    at: datetime
    source: str
    batch: int
    subject_kind: str
    subject_ref: str
    amount: int | None
    closures: list[GenClosure] = field(default_factory=list)


@dataclass
class GenClue:
    clue_id: str
    handoffs: list[GenHandOff] = field(default_factory=list)


@dataclass
class GenLog:
    clues: list[GenClue]
    events: list[AuditEvent]


T0 = datetime(2024, 4, 1, tzinfo=UTC)
DAY = timedelta(days=1)
# Batch release days after T0; national 6 falls in the week, national 7 straddles its end.
BATCH_DAYS = {
    NATIONAL: [0, 15, 30, 45, 60, 77, 83.8],
    PROVINCIAL: [5, 12, 20, 33, 41, 55, 70, 83.5],
}
DESTINATIONS = [
    ("MIB@350500", 40),
    ("MIB@350582", 15),
    ("MIB@350583", 15),
    ("MIB@350200", 12),  # another city
    ("PSB@350500", 8),  # another agency in the region
    ("HEALTH@350582", 5),
    ("MIB@350000", 5),  # the province itself
]
SUBJECTS = [
    ("HOSPITAL", 35, 15),
    ("PHARMACY", 25, 12),
    ("INSURED_PERSON", 25, 20),
    ("DOCTOR", 8, 10),
    ("FUND_HANDLER", 4, 5),
    ("OTHER_PERSON", 3, 5),
]
SANCTIONS = [
    "INTERVIEW",
    "SUSPENSION",
    "AGREEMENT_TERMINATED",
    "BLACKLISTED",
    "FINED",
    "REFERRED_TO_JUDICIAL",
    "OTHER",
]


def _pick(rnd: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rnd.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _seconds(rnd: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=int(rnd.uniform(low, high)))  # whole seconds: the log keeps ms


def _closure(rnd: random.Random, cid: str, at: datetime) -> GenClosure:
    result = rnd.choices(["VERIFIED_TRUE", "PARTIALLY_TRUE", "NOT_TRUE", "OTHER"], [4, 2, 3, 1])[0]
    sanctions: dict[str, int] = {}
    if result != "NOT_TRUE" or rnd.random() < 0.1:
        for kind in rnd.sample(SANCTIONS, rnd.randint(0, 3)):
            sanctions[kind] = rnd.choice([0, 1, 1, 2, 3])  # a zero count is no sanction
    recovered = rnd.choice([0, rnd.randrange(1, 80_000_000)])
    penalties = rnd.choice([0, rnd.randrange(1, 30_000_000)])
    return GenClosure(cid, at, result, recovered, penalties, sanctions)


def generate(seed: int = 20240618, n: int = 300) -> GenLog:
    rnd = random.Random(seed)
    clues: list[GenClue] = []
    for i in range(n):
        clue = GenClue(f"CLUE-{i:04d}")
        source = rnd.choices(
            [NATIONAL, PROVINCIAL, WHISTLE, "OWN_SCREENING", "CITY_BUREAU"], [30, 30, 25, 10, 5]
        )[0]
        if source in BATCH_DAYS:
            batch = rnd.randrange(len(BATCH_DAYS[source])) + 1
            at = T0 + timedelta(days=BATCH_DAYS[source][batch - 1]) + _seconds(rnd, 0, 2 * 86400)
        else:
            batch, at = 1, T0 + _seconds(rnd, 0, 95 * 86400)
        kind = rnd.choices([s[0] for s in SUBJECTS], [s[1] for s in SUBJECTS])[0]
        pool = next(s[2] for s in SUBJECTS if s[0] == kind)
        ref = f"{kind}-{rnd.randrange(pool)}"  # shared subjects make 不重复数 matter
        amount = None if rnd.random() < 0.05 else rnd.randrange(0, 300_000_000)
        dest = _pick(rnd, DESTINATIONS)

        origin = GenHandOff(
            "", clue.clue_id, "MIB@350000", dest, at, source, batch, kind, ref, amount
        )
        if dest.startswith("MIB@3505") and rnd.random() < 0.2:  # via the province
            _hand_on(clue, origin, sender="MIB@100000", routed_to="MIB@350000", at=at - DAY)
        _hand_on(clue, origin)
        if dest == "MIB@350500" and rnd.random() < 0.35:  # the city hands it on to a county
            relabel = rnd.random() < 0.3  # a relay may re-label the batch as its own
            _hand_on(
                clue,
                origin,
                sender="MIB@350500",
                routed_to=rnd.choice(["MIB@350582", "MIB@350583"]),
                at=at + _seconds(rnd, 3600, 4 * 86400),
                source="CITY_BUREAU" if relabel else source,
                batch=1 if relabel else batch,
            )
        _close(rnd, clue)
        clues.append(clue)
    _boundary_closures(clues)
    events = [ev for clue in clues for ev in _events(clue)] + _noise(rnd, clues)
    rnd.shuffle(events)  # the report must not depend on the log's order
    return GenLog(clues, events)


def _hand_on(clue: GenClue, origin: GenHandOff, **changes: object) -> None:
    hid = f"{clue.clue_id}-H{len(clue.handoffs)}"
    # A fresh closures list: replace() would share the origin's between the hand-offs.
    clue.handoffs.append(replace(origin, id=hid, closures=[], **changes))  # type: ignore[arg-type]


def _close(rnd: random.Random, clue: GenClue) -> None:
    """The deepest hand-off closes first; the bureaus above mostly report it on later."""
    child: GenClosure | None = None
    for k, h in reversed(list(enumerate(clue.handoffs))):
        cid = f"{h.id}-C"
        if child is not None and rnd.random() < 0.8:
            c = _closure(rnd, cid, child.at + _seconds(rnd, 3600, 3 * 86400))
            c.result, c.sanctions = child.result, dict(child.sanctions)
        elif rnd.random() < (0.65 if k == len(clue.handoffs) - 1 else 0.3):
            at = h.at + _seconds(rnd, 7200, 30 * 86400)
            lo = max(START, h.at + timedelta(hours=1))
            if rnd.random() < 0.45 and lo < END:  # plenty of closures inside the week
                at = lo + _seconds(rnd, 0, (END - lo).total_seconds())
            c = _closure(rnd, cid, at)
        else:
            continue
        h.closures.append(c)
        child = c


def _boundary_closures(clues: list[GenClue]) -> None:
    """Closures exactly at the week's start (in) and exactly at its end (out)."""
    early = [
        h.closures[0]
        for c in clues
        for h in c.handoffs
        if h.closures and h.at < START - timedelta(days=1)
    ]
    for c, at in zip(early[:6], [START, START, START, END, END, END], strict=True):
        c.at = at


def _events(clue: GenClue) -> Iterator[AuditEvent]:
    for h in clue.handoffs:
        facts = {
            "clue_id": h.clue_id,
            "batch_id": f"{h.source}-{h.batch}",
            "batch_source": h.source,
            "batch_number": str(h.batch),
            "batch_sequence": "1",
            "category": "FAKE_TREATMENT",
            "risk_level": "HIGH",
            "subject_kind": h.subject_kind,
            "subject_ref": h.subject_ref,
        }
        if h.amount is not None:
            facts["amount_fen"] = str(h.amount)
        yield AuditEvent(
            event_id=f"delivered:{h.id}",
            kind="delivered",
            occurred_at=h.at,
            message_id=h.id,
            conversation_id=h.id,
            family="clue_transfer",
            sender=h.sender,
            recipient=h.routed_to,
            routed_to=h.routed_to,
            status="DELIVERED",
            facts=facts,
        )
        for c in h.closures:
            yield _closed_event(c, h.id, h.routed_to, h.sender)


def _closed_event(
    c: GenClosure, conversation: str, sender: str, to: str, family: str = "closure"
) -> AuditEvent:
    return AuditEvent(
        event_id=f"closed:{c.id}",
        kind="closed",
        occurred_at=c.at,
        message_id=c.id,
        conversation_id=conversation,
        family=family,
        sender=sender,
        recipient=to,
        routed_to=to,
        status="CLOSED",
        facts={
            "result": c.result,
            "recovered_fen": str(c.recovered),
            "penalties_fen": str(c.penalties),
            "sanctions": json.dumps(c.sanctions, sort_keys=True),
            "closed_at": c.at.date().isoformat(),
        },
    )


def _noise(rnd: random.Random, clues: list[GenClue]) -> list[AuditEvent]:
    """Records the report must leave alone, and closures whose hand-off is not in the log."""
    out: list[AuditEvent] = []
    in_week = START + timedelta(days=2)
    region = [h for c in clues for h in c.handoffs if h.routed_to.startswith("MIB@3505")]
    for h in rnd.sample(region, 15):
        # An invoice check's result is also kind "closed"; it closes no clue.
        fake = GenClosure(f"{h.id}-INV", in_week, "VERIFIED_TRUE", 9_999_999, 0, {"FINED": 5})
        out.append(_closed_event(fake, h.id, h.routed_to, h.sender, "invoice_verification_result"))
        out.append(AuditEvent(f"receipt:{h.id}", "receipt", h.at, f"{h.id}-R", h.id, "receipt"))
    for i in range(4):  # case referrals delivered to and closed by the city: not clues
        mid = f"CASE-{i}"
        case = AuditEvent(
            event_id=f"delivered:{mid}",
            kind="delivered",
            occurred_at=in_week - timedelta(days=9),
            message_id=mid,
            conversation_id=mid,
            family="case_referral",
            sender="PSB@350500",
            recipient="MIB@350500",
            routed_to="MIB@350500",
        )
        out.append(case)
        c = GenClosure(f"{mid}-C", in_week, "VERIFIED_TRUE", 5_000_000, 0, {"FINED": 1})
        out.append(_closed_event(c, mid, "MIB@350500", "PSB@350500"))
    orphans = [
        ("LOST-1", "MIB@350582", in_week),  # noted for 350500, 350582 and 350000
        ("LOST-2", "MIB@350500", START),  # noted for 350500 and 350000
        ("LOST-3", "MIB@350583", END),  # after the week: not noted
        ("LOST-4", "MIB@350200", in_week),  # another city: noted for 350000 only
    ]
    for conv, sender, at in orphans:
        c = GenClosure(f"{conv}-C", at, "VERIFIED_TRUE", 1_230_000, 40_000, {"INTERVIEW": 1})
        out.append(_closed_event(c, conv, sender, "MIB@350000"))
    return out


# -- the same figures, counted here --------------------------------------------------------------


def wan(fen: int) -> str:
    """万元, two decimals, half up, in integer arithmetic (not the code under test's Decimal)."""
    cents = (fen + 5_000) // 10_000
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass
class Column:
    sanctions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SANCTIONS, 0))
    recovered: int = 0
    refs: set[str] = field(default_factory=set)
    sanctioned: int = 0  # closures with a sanction, against which refs are the distinct ones
    loss: dict[str, list[int]] = field(
        default_factory=lambda: {
            "SUSPENSION": [0, 0],
            "AGREEMENT_TERMINATED": [0, 0],
            "ALL": [0, 0],
        }
    )


@dataclass
class Expected:
    national: dict[int, list]  # batch → [first CST date, total, closed, verified]
    provincial: dict[int, list]
    whistle: list[int]
    columns: dict[str, Column]
    repeats: int


def expected(clues: list[GenClue], prefix: str) -> Expected:
    batches: dict[str, dict[int, list]] = {NATIONAL: {}, PROVINCIAL: {}}
    whistle = [0, 0, 0]
    columns = {"HOSPITAL": Column(), "PHARMACY": Column(), "INSURED_PERSON": Column()}
    repeats = 0
    for clue in clues:
        hs = [h for h in clue.handoffs if h.routed_to.startswith("MIB@" + prefix)]
        if not hs:
            continue
        hs.sort(key=lambda h: h.at)
        first = hs[0]
        # form 3
        if first.at < END:
            done = [c for h in hs for c in h.closures if c.at < END]
            closed = 1 if done else 0
            verified = (
                1 if any(c.result in ("VERIFIED_TRUE", "PARTIALLY_TRUE") for c in done) else 0
            )
            day = (first.at + timedelta(hours=8)).date()
            if first.source == WHISTLE:
                whistle = [whistle[0] + 1, whistle[1] + closed, whistle[2] + verified]
            elif first.source in batches:
                row = batches[first.source].setdefault(first.batch, [day, 0, 0, 0])
                row[0] = min(row[0], day)
                row[1] += 1
                row[2] += closed
                row[3] += verified
        # forms 1 and 2
        closings = sorted(((c, h) for h in hs for c in h.closures), key=lambda p: p[0].at)
        if not closings:
            continue
        repeats += sum(1 for c, _ in closings[1:] if START <= c.at < END)
        c, h = closings[0]
        if not START <= c.at < END or h.subject_kind not in columns:
            continue
        col = columns[h.subject_kind]
        for kind, count in c.sanctions.items():
            col.sanctions[kind] += count
        col.recovered += c.recovered
        if any(count > 0 for count in c.sanctions.values()):
            col.refs.add(h.subject_ref)
            col.sanctioned += 1
        hit = False
        for kind in LOSS:
            if c.sanctions.get(kind, 0) > 0:
                col.loss[kind][0] += h.amount or 0
                col.loss[kind][1] += c.penalties
                hit = True
        if hit:
            col.loss["ALL"][0] += h.amount or 0
            col.loss["ALL"][1] += c.penalties
    return Expected(batches[NATIONAL], batches[PROVINCIAL], whistle, columns, repeats)


def _label(number: int, day: date) -> str:
    names = "一二三四五六七八九十"
    return f"第{names[number - 1]}批 ({day.month}.{day.day})"


def expected_form3(e: Expected) -> list[list[str]]:
    def side(rows: dict[int, list]) -> list[list[str]]:
        return [[_label(b, r[0]), *map(str, r[1:])] for b, r in sorted(rows.items())]

    nat, prov = side(e.national), side(e.provincial)
    n = max(len(nat), len(prov), 1)
    blank = ["", "", "", ""]
    out = []
    for i in range(n):
        row = (nat[i] if i < len(nat) else blank) + (prov[i] if i < len(prov) else blank)
        out.append(row + (list(map(str, e.whistle)) if i == 0 else ["", "", ""]))

    def total(rows: dict[int, list]) -> list[str]:
        return [str(sum(r[k] for r in rows.values())) for k in (1, 2, 3)]

    out.append(["合计", *total(e.national), "合计", *total(e.provincial), "", "", ""])
    return out


FORM1 = [  # row label, sanction kind ("" = not carried, "$" = recovered), has 减少基金损失
    ("约谈限期整改（家）", "INTERVIEW"),
    ("通报批评（家）", ""),
    ("暂停医保服务（家）", "SUSPENSION"),
    ("解除定点协议（家）", "AGREEMENT_TERMINATED"),
    ("列入医保黑名单（家）", "BLACKLISTED"),
    ("行政处罚（家）", "FINED"),
    ("移交司法机关（家）", "REFERRED_TO_JUDICIAL"),
    ("追回医保基金（万元）", "$"),
    ("为患者追回资金（万元）", ""),
    ("其他处理情形（家）", "OTHER"),
]


def expected_form1(e: Expected) -> list[list[str]]:
    h, p = e.columns["HOSPITAL"], e.columns["PHARMACY"]

    def value(col: Column, kind: str) -> str:
        if kind == "":
            return "—"
        return wan(col.recovered) if kind == "$" else str(col.sanctions[kind])

    def loss(col: Column, kind: str) -> list[str]:
        if kind not in (*LOSS, "ALL"):
            return ["---", "---", "---"]
        return ["—", wan(col.loss[kind][0]), wan(col.loss[kind][1])]

    out = []
    for i, (label, kind) in enumerate(FORM1):
        remark = FORM1_REMARKS[i] if i < 3 else ""
        cells = [value(h, kind), value(p, kind), *loss(h, kind), *loss(p, kind), remark]
        out.append([str(i + 1), label, *cells])
    totals = [f"{len(c.refs)}家，{wan(c.recovered)}万元" for c in (h, p)]
    out.append(["合计（不重复数）", "", *totals, *loss(h, "ALL"), *loss(p, "ALL"), ""])
    return out


def expected_form2(e: Expected) -> list[list[str]]:
    s = e.columns["INSURED_PERSON"]
    k = s.sanctions
    values = [
        k["INTERVIEW"],
        k["SUSPENSION"],
        k["FINED"],
        k["REFERRED_TO_JUDICIAL"],
        k["OTHER"] + k["BLACKLISTED"] + k["AGREEMENT_TERMINATED"],
    ]
    labels = [
        "约谈（人）",
        "暂停医保卡结算（人）",
        "行政处罚（人）",
        "移交司法机关（人）",
        "其他处理形式（人，如有请注明）",
        "追回骗取医保基金（万元，小数点两位）",
    ]
    cells = [*map(str, values), wan(s.recovered)]
    out = [[str(i + 1), labels[i], cells[i]] for i in range(6)]
    out.append(["合计（不重复数）", "", f"{len(s.refs)}人，{wan(s.recovered)}万元"])
    return out


def csv_rows(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def body(rows: list[list[str]], last_label: str, n: int) -> list[list[str]]:
    """The ``n`` rows ending with the row whose first cell is ``last_label``."""
    end = next(i for i, r in enumerate(rows) if r and r[0] == last_label)
    return rows[end - n + 1 : end + 1]


# -- the generated log, on both databases -----------------------------------------------------

REGIONS = {"350500": "3505", "350582": "350582", "350000": "35"}
ORPHAN_NOTES = {
    "350500": {"LOST-1", "LOST-2"},
    "350582": {"LOST-1"},
    "350000": {"LOST-1", "LOST-2", "LOST-4"},
}


@pytest.fixture(scope="module")
def log() -> GenLog:
    return generate()


def test_the_generated_log_exercises_every_rule(log: GenLog) -> None:
    e = expected(log.clues, "3505")
    assert len(e.national) >= 6 and len(e.provincial) >= 7
    assert e.whistle[0] > 20 and 0 < e.whistle[2] < e.whistle[1] < e.whistle[0]
    assert all(len(c.refs) > 3 for c in e.columns.values())
    assert all(len(c.refs) < c.sanctioned for c in e.columns.values())  # repeat offenders
    assert all(c.loss["ALL"][0] > 0 for c in e.columns.values())
    # One closure with both a suspension and a termination counts once in 合计.
    assert any(
        c.loss["ALL"][0] < c.loss[LOSS[0]][0] + c.loss[LOSS[1]][0] for c in e.columns.values()
    )
    assert e.repeats > 0
    # Some clues come in relabelled, some re-close in the week, some deliveries come too late.
    handoffs = [h for c in log.clues for h in c.handoffs]
    assert any(
        h.source == "CITY_BUREAU" and h.routed_to in ("MIB@350582", "MIB@350583") for h in handoffs
    )
    assert any(h.at >= END and h.routed_to.startswith("MIB@3505") for h in handoffs)
    assert sum(c.at in (START, END) for h in handoffs for c in h.closures) >= 6
    assert len({ev.event_id for ev in log.events}) == len(log.events)  # the store drops repeats


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_every_cell_matches_an_independent_count(kind: str, log: GenLog, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        store = AuditStore(url)
        try:
            store.append(log.events)
            reports = {r: weekly_report_from_store(store, r, WEEK) for r in REGIONS}
        finally:
            store.close()

    for region, prefix in REGIONS.items():
        report, e = reports[region], expected(log.clues, prefix)
        files = to_csv(report)
        f1, f2, f3 = (csv_rows(files[f"form{i}.csv"]) for i in (1, 2, 3))
        want3 = expected_form3(e)
        assert body(f3, "合计", len(want3)) == want3, region
        assert body(f1, "合计（不重复数）", 11) == expected_form1(e), region
        assert body(f2, "合计（不重复数）", 7) == expected_form2(e), region

        # The machine-readable form carries the same figures.
        data = report.to_json()
        assert [b["batch_number"] for b in data["form3"]["national"]] == sorted(e.national)
        hosp = e.columns["HOSPITAL"]
        assert data["form1"]["hospital"]["recovered_fen"] == hosp.recovered
        assert data["form1"]["hospital"]["distinct_sanctioned"] == len(hosp.refs)
        assert data["form1"]["hospital"]["loss_total"]["violation_fen"] == hosp.loss["ALL"][0]

        noted = {n.split("办结的 ")[1].split(" ")[0] for n in report.notes if "没有移交" in n}
        assert noted == ORPHAN_NOTES[region]
        assert any(f"本周另有 {e.repeats} 件办结" in n for n in report.notes) == (e.repeats > 0)


def test_store_order_does_not_matter(log: GenLog) -> None:
    records = [
        {**ev.to_record(), "seq": i + 1, "occurred_at": ev.occurred_at, "facts": ev.facts}
        for i, ev in enumerate(log.events)
    ]
    forward = build_weekly_report(records, "350500", WEEK).to_json()
    backward = build_weekly_report(list(reversed(records)), "350500", WEEK).to_json()
    assert forward == backward


# -- a small log, by hand --------------------------------------------------------------------


def _delivered(mid: str, to: str, at: str, **facts: str) -> AuditEvent:
    base = {"clue_id": mid.split("/")[0], "batch_source": NATIONAL, "batch_number": "1"}
    base.update(facts)
    return AuditEvent(
        event_id=f"delivered:{mid}",
        kind="delivered",
        occurred_at=_t(at),
        message_id=mid,
        conversation_id=mid,
        family="clue_transfer",
        sender="MIB@350000",
        recipient=to,
        routed_to=to,
        facts=base,
    )


def _closed(conv: str, by: str, at: str, result: str = "VERIFIED_TRUE", **facts: str) -> AuditEvent:
    base = {"result": result, "recovered_fen": "0", "penalties_fen": "0", "sanctions": "{}"}
    base.update(facts)
    return AuditEvent(
        event_id=f"closed:{conv}:{at}",
        kind="closed",
        occurred_at=_t(at),
        message_id=f"{conv}-C@{at}",
        conversation_id=conv,
        family="closure",
        sender=by,
        recipient="MIB@350000",
        routed_to="MIB@350000",
        facts=base,
    )


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


SMALL = [
    # C1: national 第一批 to the city, handed on to a county as the city's own batch; the county
    # closes in the week, the city reports the same closure on: counted once.
    _delivered(
        "C1/a",
        "MIB@350500",
        "2024-06-18T02:00",
        subject_kind="HOSPITAL",
        subject_ref="H1",
        amount_fen="25000000",
    ),
    _delivered(
        "C1/b",
        "MIB@350582",
        "2024-06-19T02:00",
        subject_kind="HOSPITAL",
        subject_ref="H1",
        amount_fen="25000000",
        batch_source="CITY_BUREAU",
    ),
    _closed(
        "C1/b",
        "MIB@350582",
        "2024-06-20T02:00",
        sanctions='{"INTERVIEW": 1, "SUSPENSION": 1}',
        recovered_fen="12345000",
        penalties_fen="5000",
    ),
    _closed(
        "C1/a",
        "MIB@350500",
        "2024-06-21T02:00",
        sanctions='{"INTERVIEW": 1, "SUSPENSION": 1}',
        recovered_fen="12345000",
    ),
    # C2: national 第一批, delivered 06-10 01:00 CST (06-09 in UTC), found not true in the week.
    _delivered("C2", "MIB@350583", "2024-06-09T17:00", subject_kind="HOSPITAL", subject_ref="H1"),
    _closed("C2", "MIB@350583", "2024-06-22T02:00", "NOT_TRUE"),
    # C3: provincial 第二批, a pharmacy partly confirmed and de-contracted in the week.
    _delivered(
        "C3",
        "MIB@350500",
        "2024-06-01T02:00",
        batch_source=PROVINCIAL,
        batch_number="2",
        subject_kind="PHARMACY",
        subject_ref="P1",
        amount_fen="1000000",
    ),
    _closed(
        "C3",
        "MIB@350500",
        "2024-06-17T00:00",
        "PARTIALLY_TRUE",
        sanctions='{"AGREEMENT_TERMINATED": 1, "FINED": 2}',
        penalties_fen="2000000",
        recovered_fen="4999",
    ),
    # C4: a whistle-blower's clue about a person, closed the week before.
    _delivered(
        "C4",
        "MIB@350582",
        "2024-06-05T02:00",
        batch_source=WHISTLE,
        subject_kind="INSURED_PERSON",
        subject_ref="I1",
    ),
    _closed("C4", "MIB@350582", "2024-06-10T02:00", sanctions='{"FINED": 1}'),
    # C5: a whistle-blower's clue about a person closed in the week with a blacklisting.
    _delivered(
        "C5",
        "MIB@350500",
        "2024-06-12T02:00",
        batch_source=WHISTLE,
        subject_kind="INSURED_PERSON",
        subject_ref="I2",
    ),
    _closed(
        "C5",
        "MIB@350500",
        "2024-06-18T02:00",
        sanctions='{"BLACKLISTED": 1, "OTHER": 2}',
        recovered_fen="300000",
    ),
    # Not this region's or not this report's: national 第二批 after the week; the police;
    # another city; an invoice check answering C2.
    _delivered("C6", "MIB@350582", "2024-06-23T16:00", batch_number="2"),
    _delivered("C7", "PSB@350500", "2024-06-18T02:00"),
    _delivered("C8", "MIB@350200", "2024-06-18T02:00"),
    AuditEvent(
        event_id="inv",
        kind="closed",
        occurred_at=_t("2024-06-18T02:00"),
        message_id="inv",
        conversation_id="C2",
        family="invoice_verification_result",
        sender="FIN@350583",
        facts={"result": "AUTHENTIC"},
    ),
    # A closure whose hand-off predates the log; its id is not to be trusted as HTML.
    _closed(
        "<script>alert(1)</script>",
        "MIB@350582",
        "2024-06-19T02:00",
        sanctions='{"INTERVIEW": 1}',
        recovered_fen="1000000",
    ),
]


def _small_report(region: str = "350500") -> WeeklyReport:
    records = [
        {**ev.to_record(), "seq": i + 1, "facts": json.dumps(ev.facts)}
        for i, ev in enumerate(SMALL)
    ]
    return build_weekly_report(records, region, WEEK)


def test_small_log_by_hand() -> None:
    r = _small_report()
    (n1,) = r.form3.national
    assert (n1.label, n1.tally.total, n1.tally.closed, n1.tally.verified) == (
        "第一批 (6.10)",
        2,
        2,
        1,
    )
    (p2,) = r.form3.provincial
    assert (p2.label, p2.tally.total, p2.tally.closed, p2.tally.verified) == (
        "第二批 (6.1)",
        1,
        1,
        1,
    )
    assert r.form3.whistleblower.to_json() == {"total": 2, "closed": 2, "verified": 2}

    h, p, s = r.form1.hospital, r.form1.pharmacy, r.form2.persons
    assert (h.closures, h.sanctions["INTERVIEW"], h.sanctions["SUSPENSION"]) == (2, 1, 1)
    assert h.distinct_sanctioned == 1 and h.recovered_fen == 12_345_000
    assert (h.loss["SUSPENSION"].violation_fen, h.loss["SUSPENSION"].penalties_fen) == (
        25_000_000,
        5000,
    )
    assert p.sanctions["AGREEMENT_TERMINATED"] == 1 and p.sanctions["FINED"] == 2
    assert p.loss_total.to_json()["penalties_wan"] == "2.00"
    assert p.loss_total.to_json()["violation_wan"] == "1.00"
    assert fen_to_wan(p.recovered_fen) == "0.00"
    assert s.closures == 1 and s.distinct_sanctioned == 1 and s.sanctions["BLACKLISTED"] == 1
    form2 = csv_rows(to_csv(r)["form2.csv"])
    assert body(form2, "合计（不重复数）", 7)[4][2] == "3"  # 其他 2 + 列入黑名单 1
    assert body(form2, "合计（不重复数）", 7)[6][2] == "1人，0.30万元"

    assert any("本周另有 1 件办结" in n for n in r.notes)
    assert any("<script>alert(1)</script>" in n and "1.00 万元" in n for n in r.notes)


def test_county_sees_a_relabelled_relay_as_the_city_s_batch() -> None:
    county = _small_report("350582")
    # C1 reached the county as the city's own batch: not on the county's national side.
    assert county.form3.national == []
    assert county.form3.whistleblower.total == 1  # C4
    assert county.form1.hospital.sanctions["SUSPENSION"] == 1  # C1, closed by the county


# -- rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("week", "start", "end"),
    [
        ("2024-W25", "2024-06-16T16:00", "2024-06-23T16:00"),
        ("2024-W01", "2023-12-31T16:00", "2024-01-07T16:00"),  # ISO 2024 starts on Jan 1
        ("2020-W53", "2020-12-27T16:00", "2021-01-03T16:00"),  # a 53-week year
        ("2021-W01", "2021-01-03T16:00", "2021-01-10T16:00"),
        (" 2024-w25 ", "2024-06-16T16:00", "2024-06-23T16:00"),
    ],
)
def test_week_bounds(week: str, start: str, end: str) -> None:
    assert week_bounds(week) == (_t(start), _t(end))


@pytest.mark.parametrize(
    ("week", "message"),
    [
        ("2021-W53", "has no ISO week 53"),
        ("2024-W00", "has no ISO week 0"),
        ("2024-W54", "has no ISO week 54"),
        ("2024-25", "not an ISO week"),
        ("2024-W5", "not an ISO week"),
        ("24-W25", "not an ISO week"),
        ("", "not an ISO week"),
    ],
)
def test_week_bounds_refuses(week: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        week_bounds(week)


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (0, "0.00"),
        (4_999, "0.00"),
        (5_000, "0.01"),  # half up, not to even
        (15_000, "0.02"),
        (25_000, "0.03"),
        (1_000_000, "1.00"),
        (12_344_999, "12.34"),
        (12_345_000, "12.35"),
        (123_456_789_012, "123456.79"),
    ],
)
def test_fen_to_wan(fen: int, text: str) -> None:
    assert fen_to_wan(fen) == text == wan(fen)


def test_batch_numerals() -> None:
    assert [chinese_number(n) for n in (1, 7, 10, 11, 19, 20, 23, 99, 100)] == [
        "一",
        "七",
        "十",
        "十一",
        "十九",
        "二十",
        "二十三",
        "九十九",
        "100",
    ]


def test_bad_region_is_refused() -> None:
    for region in ("35050", "3505000", "035000", "泉州"):
        with pytest.raises(ValueError, match="six-digit region code"):
            build_weekly_report([], region, WEEK)


# -- rendering ---------------------------------------------------------------------------------


def test_csv_is_excel_ready_with_the_seed_headings() -> None:
    files = to_csv(_small_report())
    assert sorted(files) == ["form1.csv", "form2.csv", "form3.csv"]
    for text in files.values():
        assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    f1, f2, f3 = (csv_rows(files[f"form{i}.csv"]) for i in (1, 2, 3))
    assert f1[0] == ["打击欺诈骗保工作周报表（一）"] and f1[1] == ["定点服务机构"]
    assert "350500 泉州市" in f1[2][0] and "2024-06-17 至 2024-06-23" in f1[2][0]
    assert f1[3] == ["序号", "处理结果类型", "处理机构数量", "", "减少基金损失", *[""] * 5, "备注"]
    assert f1[4] == [
        "",
        "",
        "定点医疗机构",
        "定点药店",
        "定点医疗机构",
        "",
        "",
        "定点药店",
        "",
        "",
        "",
    ]
    assert f1[5] == ["", "", "", "", *["月营业额", "违规额", "罚没额"] * 2, ""]
    assert f2[0] == ["打击欺诈骗保工作周报表（二）"]
    assert f2[2:4] == [["参保人员", "", ""], ["序号", "处理结果", "处理参保人员人数"]]
    assert f3[0] == ["打击欺诈骗保工作周报表（三）"]
    assert f3[2][0] == "国家局移交线索办理情况" and f3[2][4] == "省局移交线索办理情况"
    assert f3[2][8] == "各市接收举报线索办理情况"
    assert f3[3] == [*["批次 (日期)", "移交总数", "已办结数量", "查证属实线索数量"] * 2, *f3[3][8:]]
    assert f3[3][8:] == ["举报投诉线索总数", "已办结数量", "查证属实线索数量"]
    assert ["单位负责人签章："] in f3 and ["电子邮箱："] in f1
    assert any(r and r[0].startswith("注：查证属实线索") for r in f3)


def test_county_forms_use_the_county_wording() -> None:
    f3 = csv_rows(to_csv(_small_report("350582"))["form3.csv"])
    assert f3[2][8] == "各县区接收举报线索办理情况"
    assert "填报单位（县区）" in f3[1][0]


def test_html_is_a_printable_escaped_page() -> None:
    page = to_html(_small_report())
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "size: A4 landscape" in page
    for title in ("周报表（一）", "周报表（二）", "周报表（三）"):
        assert f"<h1>打击欺诈骗保工作{title}</h1>" in page
    assert '<th rowspan="3">序号</th>' in page and '<th colspan="6">减少基金损失</th>' in page
    assert '<th colspan="4">国家局移交线索办理情况</th>' in page
    assert "第一批 (6.10)" in page and "350500 泉州市" in page and "2024-W25" in page
    assert page.count("单位负责人签章：") == 3 and page.count("填表人签章：") == 3
    assert "注：减少基金损失，只填写" in page and "注：查证属实线索" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_text_and_json() -> None:
    r = _small_report()
    text = to_text(r)
    assert (
        "国家局移交线索办理情况" in text and "第一批 (6.10)" in text and "合计（不重复数）" in text
    )
    data = json.loads(json.dumps(r.to_json(), ensure_ascii=False))
    assert (
        data["week"] == WEEK
        and data["first_day"] == "2024-06-17"
        and data["last_day"] == "2024-06-23"
    )
    assert data["form3"]["national_total"] == {"total": 2, "closed": 2, "verified": 1}


# -- the command -------------------------------------------------------------------------------


def _run(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="hub")
    add_parsers(
        parser.add_subparsers(dest="command", required=True), argparse.RawDescriptionHelpFormatter
    )
    args = parser.parse_args(argv)
    return args.func(args, settings)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    store = AuditStore(default_audit_url(home))
    store.append(SMALL)
    store.close()
    return Settings(home=home)


def test_cli_writes_the_files(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / WEEK
    argv = ["report", "weekly", "--region", "350500", "--week", WEEK, "--out", str(out)]
    assert _run(argv, settings) == 0
    printed = capsys.readouterr().out.split()
    names = ["form1.csv", "form2.csv", "form3.csv", "weekly.html"]
    assert printed == [str(out / n) for n in names]
    assert (out / "form3.csv").read_bytes().startswith(b"\xef\xbb\xbf\xe6\x89\x93")  # BOM, 打
    assert (out / "weekly.html").read_text(encoding="utf-8") == to_html(_small_report())


def test_cli_prints_each_format(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["report", "weekly", "--region", "350500", "--week", WEEK]
    assert _run(base, settings) == 0
    assert "（三）国家局移交线索办理情况" in capsys.readouterr().out
    assert _run([*base, "--format", "json"], settings) == 0
    assert json.loads(capsys.readouterr().out) == _small_report().to_json()
    assert _run([*base, "--format", "csv"], settings) == 0
    out = capsys.readouterr().out
    assert not out.startswith("\ufeff") and out.count("打击欺诈骗保工作周报表") == 3
    assert _run([*base, "--format", "html"], settings) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("region", "week", "message"),
    [("350500", "2024-W60", "2024-W60"), ("3505", WEEK, "six-digit"), ("350500", "25", "ISO week")],
)
def test_cli_refuses_bad_input(
    settings: Settings, capsys: pytest.CaptureFixture[str], region: str, week: str, message: str
) -> None:
    assert _run(["report", "weekly", "--region", region, "--week", week], settings) == 2
    err = capsys.readouterr().err
    assert err.startswith("hub report weekly: ") and message in err


def test_cli_without_an_audit_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(home=tmp_path / "never-ran")
    assert _run(["report", "weekly", "--region", "350500", "--week", WEEK], settings) == 1
    assert "no audit log" in capsys.readouterr().err
    assert not (tmp_path / "never-ran").exists()


def test_cli_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _run(["report", "weekly", "--help"], Settings())
    assert exit_.value.code == 0
    assert "hub report weekly --region 350500 --week 2024-W25" in capsys.readouterr().out


def test_unreadable_facts_are_noted_for_the_region_only() -> None:
    bad = {"sanctions": "not json", "recovered_fen": "12.5"}
    mine = _closed("C3", "MIB@350500", "2024-06-19T00:00", **bad)
    theirs = _closed("C8", "MIB@350200", "2024-06-19T00:00", **bad)
    records = [
        {**ev.to_record(), "seq": i + 1, "facts": json.dumps(ev.facts)}
        for i, ev in enumerate([*SMALL, mine, theirs])
    ]
    notes = [n for n in build_weekly_report(records, "350500", WEEK).notes if "审计记录" in n]
    n = len(SMALL) + 1
    assert notes == [
        f"审计记录 #{n}：sanctions 无法读取：'not json'，按无处理计。",
        f"审计记录 #{n}：recovered_fen='12.5' 不是整数，按缺失计。",
    ]
