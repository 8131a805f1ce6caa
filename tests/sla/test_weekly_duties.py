"""The weekly report's duty, as pure arithmetic and through the pipeline: every county and city
bureau owes the level above its report by the end of the Wednesday after the week (the next
working day when that Wednesday is a holiday); the report answers the duty and closes it, a
second one is refused, a missing one breaches; the level above sees each figure beside the log.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import tests.runtime.test_ingress_pipeline as pipeline_tests
from hub.core.clock import BEIJING
from hub.report.check import DIFFERS, NOT_IN_LOG, NOT_SUBMITTED, OK, compare, figures, summed
from hub.report.weekly import build_weekly_report
from hub.runtime.ingress.pipeline import DEAD_LETTERED, DELIVERED
from hub.runtime.timers import WeeklyDuties
from hub.sla.clock import SlaClock
from hub.sla.weekly import due_at, duties, duty_id, week_of
from hub.sla.workdays import WorkCalendar, default_calendar
from hub.trust.address import Address
from tests.runtime.test_ingress_pipeline import Rig

A = Address.parse
BUREAUS = {A("MIB@350582"), A("MIB@350583"), A("MIB@350500"), A("MIB@350000"), A("PSB@350582")}


def test_counties_owe_the_city_and_the_city_the_province_by_the_wednesday_after() -> None:
    found = duties(BUREAUS, "2026-W49", default_calendar(), timedelta(days=1))
    assert {(str(d.debtor), str(d.creditor)) for d in found} == {
        ("MIB@350582", "MIB@350500"), ("MIB@350583", "MIB@350500"), ("MIB@350500", "MIB@350000"),
    }  # fmt: skip
    due = found[0].obligation.due_at.astimezone(BEIJING)
    assert (due.date(), due.hour) == (date(2026, 12, 10), 0)  # the end of Wednesday 12-09
    assert found[0].message_id == duty_id("MIB@350500", "2026-W49") == "weekly-MIB-350500-2026-W49"


def test_a_report_due_on_a_holiday_wednesday_is_due_the_next_working_day() -> None:
    wednesday = date(2026, 12, 9)
    calendar = WorkCalendar(holidays=frozenset({wednesday}), years=frozenset({2026}))
    assert due_at("2026-W49", calendar).astimezone(BEIJING).date() == date(2026, 12, 11)


def test_figures_flag_what_the_log_does_not_support() -> None:
    log = figures(build_weekly_report([], "350582", "2026-W49"))
    assert log["form3/national_total/total"] == 0 and "form1/hospital/sanctions/interview" in log
    left_out = "form2/insured_persons/closures"
    submitted = {k: v for k, v in log.items() if k != left_out}
    submitted.update({"form1/hospital/sanctions/interview": 2, "form3/national/b7/total": 3})
    flags = {c.key: c.flag for c in compare(submitted, {**log, left_out: 1})}
    assert flags["form1/hospital/sanctions/interview"] == DIFFERS
    assert flags["form3/national/b7/total"] == NOT_IN_LOG
    assert flags["form2/insured_persons/closures"] == NOT_SUBMITTED
    assert flags["form3/national_total/total"] == OK
    assert summed([{"a": 1, "b": 2}, {"a": 3}]) == {"a": 4, "b": 2}


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    monkeypatch.setattr(pipeline_tests, "CONNECTORS", [*pipeline_tests.CONNECTORS, "MIB@350500"])
    return Rig(tmp_path / "hub")


def report(rig: Rig, week: str, sender: str = "MIB@350582", **changes: object) -> bytes:
    payload = {"region": sender[-6:], "week": week, "submitted_at": datetime.now(UTC),
               "figures": [{"key": "form3/national_total/total", "value": 0}],
               "based_on": [], "processing_reports": [], **changes}  # fmt: skip
    _, raw = rig.message("weekly_report", sender=sender, to="MIB@350500", payload=payload,
                         correlation_id=duty_id(sender, week))  # fmt: skip
    return raw


def test_the_report_answers_its_duty_once_and_a_missing_one_breaches(rig: Rig) -> None:
    now = datetime.now(UTC)
    week = week_of(now)
    assert WeeklyDuties(rig.services).open(now) == 1  # MIB@350582 → MIB@350500 in this rig
    duty = duty_id("MIB@350582", week)
    assert rig.services.ledger.entry(duty)["state"] == "DELIVERED"
    assert rig.handle(rig.record(report(rig, week))).kind == DELIVERED
    assert rig.services.ledger.entry(duty)["state"] == "CLOSED"
    again = rig.handle(rig.record(report(rig, week)))
    assert again.kind == DEAD_LETTERED and again.reason == "illegal_transition"
    assert "weekly_report" in rig.audit_kinds()
    # Next week nobody reports: after its Wednesday the duty breaches.
    later = now + timedelta(days=7)
    WeeklyDuties(rig.services).open(later)
    next_duty = duty_id("MIB@350582", week_of(later))
    clock = SlaClock(rig.services.ledger, lambda: rig.services.directory.current)
    fired = clock.tick(due_at(week_of(later), rig.services.calendar) + timedelta(minutes=1))
    assert {(e.message_id, e.kind) for e in fired.fired} >= {(next_duty, "BREACH")}
    assert all(e.message_id != duty for e in fired.fired)  # the one answered stays quiet


def test_a_report_for_another_region_or_a_figure_off_the_forms_is_refused(rig: Rig) -> None:
    week = week_of(datetime.now(UTC))
    WeeklyDuties(rig.services).open(datetime.now(UTC))
    wrong = rig.handle(rig.record(report(rig, week, region="350583")))
    assert wrong.kind == DEAD_LETTERED and wrong.reason == "invalid_payload"
    off = rig.handle(rig.record(report(rig, week, figures=[{"key": "salary", "value": 1}])))
    assert off.kind == DEAD_LETTERED and off.reason == "invalid_payload"
