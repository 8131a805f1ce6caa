"""The weekly report travels, against a real `hub run` whose clock the test moves: a county's
report with its processing report reaches the city on the Wednesday after the week; a county
that does not report is breached after Wednesday; a figure the log does not support is flagged
at the city; the city's report to the province is the sum of its counties', checked the same
way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from hub.audit.store import AuditStore
from hub.core.clock import BEIJING, advance_clock_file
from hub.lifecycle.ledger import Ledger
from hub.sla.weekly import duty_id, week_of
from hub.storage.store import Store
from tests.e2e.test_end_to_end import payload
from tests.hubproc import HubProcess, start_hub, wait_for_messages, wait_until

CITY, JINJIANG, NANAN, SHISHI = "MIB@350500", "MIB@350582", "MIB@350583", "MIB@350581"


def next_monday_9() -> datetime:
    today = datetime.now(BEIJING).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime(monday.year, monday.month, monday.day, 9, tzinfo=BEIJING)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    home = tmp_path_factory.mktemp("weekly-hub")
    clock = home / "clock-offset"
    advance_clock_file(clock, (next_monday_9() - datetime.now(UTC)).total_seconds())
    env = {"HUB_CLOCK_FILE": str(clock), "HUB_ALLOW_CLOCK_FILE": "true", "HUB_SLA_TICK_S": "0.2"}
    proc = start_hub(home, extra_env=env)
    try:
        yield proc
    finally:
        proc.stop()


def move_to(hub: HubProcess, when: datetime) -> None:
    clock = hub.home / "clock-offset"
    clock.write_text(f"{(when - datetime.now(UTC)).total_seconds()}\n", encoding="utf-8")


def ledger(hub: HubProcess) -> Ledger:
    return Ledger(Store(hub.settings.effective_store_url).engine)


def test_reports_reach_the_city_late_ones_breach_and_unsupported_figures_are_flagged(
    hub: HubProcess, tmp_path: Path
) -> None:
    monday = next_monday_9()
    week = week_of(monday)
    book = ledger(hub)
    wait_until(lambda: book.entry(duty_id(JINJIANG, week)) is not None, what="the week's duties")
    # The city hands a clue down; 晋江 closes it with its processing report.
    city, county = hub.connector(CITY), hub.connector(JINJIANG)
    mid = city.send("clue_transfer", JINJIANG, payload(city, "clue_transfer"))
    msg = wait_for_messages(county, [mid])[mid]
    county.receipt(msg)
    county.accept(msg, case_number="晋医保2026-9")
    report = tmp_path / "处理报告.txt"
    report.write_text("关于上级转办线索的处理报告\n核查属实，已追回。\n", encoding="utf-8")
    closure = county.close_case(
        msg, "VERIFIED_TRUE", recovered_fen=50_000, processing_report=report
    )
    wait_until(lambda: (book.entry(mid) or {}).get("state") == "CLOSED", what="the closure")
    # A county's figures come from the audit log: the week's events must be in it before it
    # reports (the sink runs beside the router and, under load, lags the ledger a moment).
    # The sink is a process of its own that creates its store as it starts: until then, no log.
    audit = AuditStore(hub.settings.effective_audit_url, migrate_schema=False)

    def closed_in_log() -> bool:
        try:
            return any(r["kind"] == "closed" for r in audit.trail(mid))
        except OperationalError:  # no audit_log table yet
            return False

    wait_until(closed_in_log, what="the closure in the audit log")

    # Wednesday after the week: 晋江 reports with its processing report; 石狮 inflates a figure.
    move_to(hub, monday + timedelta(days=9, hours=1))
    sent = hub.cli("report", "weekly", "--send", "--as", JINJIANG, "--week", week,
                   "--processing-report", f"{closure}={report}").stdout.strip()  # fmt: skip
    shishi = hub.connector(SHISHI)
    inflated = {"region": "350581", "week": week, "submitted_at": datetime.now(UTC),
                "figures": [{"key": "form3/whistleblower/total", "value": 4}],
                "based_on": [], "processing_reports": []}  # fmt: skip
    shishi.send("weekly_report", CITY, inflated, correlation_id=duty_id(SHISHI, week))
    got = wait_for_messages(city, [sent])[sent]
    assert got.family == "weekly_report" and len(got.documents) == 1
    wait_until(lambda: (book.entry(duty_id(JINJIANG, week)) or {}).get("state") == "CLOSED",
               what="晋江's duty closed")  # fmt: skip
    assert not [e for e in book.events(duty_id(JINJIANG, week)) if e.kind == "BREACH"]

    def received() -> list[dict]:
        out = hub.cli("report", "weekly", "--received", "--as", CITY, "--week", week,
                      "--format", "json").stdout  # fmt: skip
        return json.loads(out)

    wait_until(lambda: len(received()) == 2, what="both reports in the audit log")
    by_sender = {r["sender"]: r for r in received()}
    assert by_sender[JINJIANG]["flagged"] == 0 and by_sender[JINJIANG]["processing_reports"] == 1
    assert {"key": "form3/whistleblower/total", "submitted": 4, "log": 0, "flag": "DIFFERS"} in (
        by_sender[SHISHI]["cells"]
    )
    assert "1 figure(s) flagged" in hub.cli("report", "weekly", "--received", "--as", CITY,
                                            "--week", week).stdout  # fmt: skip

    # Thursday: 南安 never reported, so its duty is breached; the city reports the counties' sum.
    move_to(hub, monday + timedelta(days=10, hours=1))
    wait_until(lambda: "BREACH" in {e.kind for e in book.events(duty_id(NANAN, week))},
               what="南安's breach")  # fmt: skip
    upward = hub.cli("report", "weekly", "--send", "--as", CITY, "--week", week).stdout.strip()
    wait_until(lambda: book.entry(duty_id(CITY, week))["state"] == "CLOSED", what="city's duty")
    province = json.loads(hub.cli("report", "weekly", "--received", "--as", "MIB@350000",
                                  "--week", week, "--format", "json").stdout)  # fmt: skip
    assert [r["message_id"] for r in province] == [upward]
    cells = {c["key"]: c for c in province[0]["cells"]}
    assert cells["form3/whistleblower/total"]["flag"] == "DIFFERS"  # 石狮's 4 summed in
    assert (
        cells["form1/hospital/recovered_fen"]["submitted"]
        + cells["form2/insured_persons/recovered_fen"]["submitted"]
        + cells["form1/pharmacy/recovered_fen"]["submitted"]
        == 50_000
    )
