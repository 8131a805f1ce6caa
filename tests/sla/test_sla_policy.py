"""SLA policy data, due-date computation, warnings and escalation (no broker needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.sla.policy import (
    FAMILIES,
    STAGES,
    Deadline,
    SlaPolicy,
    SlaPolicyError,
    compute_due,
    load_sla_policy,
    warn_at,
)
from hub.sla.workdays import WorkCalendar, default_calendar

SH = ZoneInfo("Asia/Shanghai")


def bj(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def end_of(y: int, m: int, d: int) -> datetime:
    """24:00 Beijing time of the given day."""
    return datetime(y, m, d, 16, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> SlaPolicy:
    return load_sla_policy()


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return default_calendar()


# -- lookups on the packaged policy -----------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "stage", "expected"),
    [
        ("clue_transfer", "receipt", Deadline(1, "workdays")),
        ("clue_transfer", "acceptance", Deadline(3, "workdays")),
        ("clue_transfer", "result", Deadline(30, "workdays")),
        ("case_referral", "receipt", Deadline(1, "workdays")),
        ("case_referral", "acceptance", Deadline(3, "workdays")),
        ("case_referral", "result", Deadline(30, "workdays")),
        ("invoice_verification_request", "receipt", Deadline(1, "hours")),
        ("invoice_verification_request", "acceptance", None),
        ("invoice_verification_request", "result", Deadline(2, "hours")),
        ("invoice_verification_result", "receipt", None),
        ("invoice_verification_result", "acceptance", None),
        ("invoice_verification_result", "result", None),
        ("corruption_clue_handoff", "receipt", Deadline(4, "hours")),
        ("corruption_clue_handoff", "acceptance", Deadline(3, "workdays")),
        ("corruption_clue_handoff", "result", Deadline(30, "workdays")),
    ],
)
def test_default_lookups(
    policy: SlaPolicy, family: str, stage: str, expected: Deadline | None
) -> None:
    assert policy.lookup(family, stage, "SAMR", "MIB") == expected


def test_pair_override_applies_to_its_pair_stage_and_direction_only(policy: SlaPolicy) -> None:
    assert policy.lookup("clue_transfer", "result", "MIB", "PSB") == Deadline(60, "workdays")
    assert policy.lookup("clue_transfer", "result", "PSB", "MIB") == Deadline(30, "workdays")
    assert policy.lookup("clue_transfer", "receipt", "MIB", "PSB") == Deadline(1, "workdays")
    assert policy.lookup("case_referral", "result", "MIB", "PSB") == Deadline(30, "workdays")


def test_override_inherits_unstated_keys_from_the_default_rule(policy: SlaPolicy) -> None:
    rule = policy.rule("clue_transfer", "result", "MIB", "PSB")
    assert rule is not None
    assert rule.honour_requested is True
    assert rule.warn_fraction == pytest.approx(0.8)
    assert policy.warn_fraction == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("family", "stage"), [("clue_transfers", "result"), ("clue_transfer", "done")]
)
def test_lookup_refuses_unknown_names(policy: SlaPolicy, family: str, stage: str) -> None:
    with pytest.raises(ValueError, match="unknown"):
        policy.lookup(family, stage, "MIB", "PSB")


def test_deadline_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="positive"):
        Deadline(0, "hours")
    with pytest.raises(ValueError, match="unit"):
        Deadline(1, "days")  # type: ignore[arg-type]


# -- compute_due ------------------------------------------------------------------------------


def test_hours_ignore_holidays(cal: WorkCalendar) -> None:
    start = bj(2025, 10, 1, 23, 30)  # National Day, late evening
    due = compute_due(start, Deadline(2, "hours"), cal)
    assert due == bj(2025, 10, 2, 1, 30)
    assert due.tzinfo is UTC


def test_workdays_use_the_calendar(cal: WorkCalendar) -> None:
    start = bj(2025, 9, 30, 10)
    assert compute_due(start, Deadline(1, "workdays"), cal) == end_of(2025, 10, 9)
    assert compute_due(start, Deadline(1, "workdays"), WorkCalendar()) == end_of(2025, 10, 1)


def test_result_deadline_with_and_without_pair_override(
    policy: SlaPolicy, cal: WorkCalendar
) -> None:
    start = bj(2025, 9, 30, 10)
    # Working days after 09-30: 10-09..10-11 (3), then whole weeks; 30th is Tue 11-18 and
    # the 60th is Tue 12-30.
    assert policy.due("clue_transfer", "result", "SAMR", "PSB", start, cal) == end_of(2025, 11, 18)
    assert policy.due("clue_transfer", "result", "MIB", "PSB", start, cal) == end_of(2025, 12, 30)


def test_requested_deadline_replaces_the_result_deadline(
    policy: SlaPolicy, cal: WorkCalendar
) -> None:
    start = bj(2025, 9, 30, 10)
    requested = bj(2025, 10, 20, 18)
    for sender in ("SAMR", "MIB"):  # with and without the pair override
        due = policy.due("clue_transfer", "result", sender, "PSB", start, cal, requested)
        assert due == requested
        assert due is not None and due.tzinfo is UTC
    assert compute_due(start, Deadline(30, "workdays"), cal, requested) == requested


def test_requested_deadline_is_ignored_where_the_rule_does_not_honour_it(
    policy: SlaPolicy, cal: WorkCalendar
) -> None:
    start = bj(2025, 9, 30, 10)
    requested = bj(2025, 10, 20, 18)
    receipt = policy.due("clue_transfer", "receipt", "SAMR", "PSB", start, cal, requested)
    assert receipt == end_of(2025, 10, 9)
    referral = policy.due("case_referral", "result", "SAMR", "PSB", start, cal, requested)
    assert referral == end_of(2025, 11, 18)


def test_due_is_none_without_an_obligation(policy: SlaPolicy, cal: WorkCalendar) -> None:
    start = bj(2025, 9, 30, 10)
    assert policy.due("invoice_verification_result", "result", "SAMR", "MIB", start, cal) is None


def test_invoice_verification_is_due_within_hours(policy: SlaPolicy, cal: WorkCalendar) -> None:
    start = datetime(2025, 10, 3, 2, 15, tzinfo=UTC)
    receipt = policy.due("invoice_verification_request", "receipt", "MIB", "SAMR", start, cal)
    result = policy.due("invoice_verification_request", "result", "MIB", "SAMR", start, cal)
    assert receipt == start + timedelta(hours=1)
    assert result == start + timedelta(hours=2)


def test_compute_due_refuses_naive_datetimes(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_due(datetime(2025, 9, 30, 10), Deadline(1, "hours"), cal)
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_due(bj(2025, 9, 30), Deadline(1, "hours"), cal, datetime(2025, 10, 9))


# -- warn_at ----------------------------------------------------------------------------------


def test_warn_at_80_percent_of_wall_clock() -> None:
    start = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)
    assert warn_at(start, start + timedelta(hours=100), 0.8) == start + timedelta(hours=80)
    assert warn_at(start, start + timedelta(hours=2), 0.8) == start + timedelta(minutes=96)


def test_warn_at_over_a_holiday_uses_wall_clock(cal: WorkCalendar) -> None:
    start = bj(2025, 9, 30, 10)
    due = compute_due(start, Deadline(1, "workdays"), cal)  # end of 10-09: 230 h later
    assert due - start == timedelta(hours=230)
    warn = warn_at(start, due, 0.8)
    assert warn == start + timedelta(hours=184)  # 10-08 02:00, still inside the holiday
    assert warn.tzinfo is UTC


def test_warn_at_for_a_past_due_returns_due() -> None:
    start = datetime(2025, 3, 3, 12, tzinfo=UTC)
    assert warn_at(start, start - timedelta(days=1), 0.8) == start - timedelta(days=1)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.2])
def test_warn_at_refuses_fractions_outside_the_open_interval(fraction: float) -> None:
    start = datetime(2025, 3, 3, tzinfo=UTC)
    with pytest.raises(ValueError, match="between 0 and 1"):
        warn_at(start, start + timedelta(hours=1), fraction)


# -- escalation -------------------------------------------------------------------------------


# -- loading and validation -------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sla-test.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_packaged_policy_names_only_known_families_and_stages(policy: SlaPolicy) -> None:
    for family, stage in policy.defaults:
        assert family in FAMILIES and stage in STAGES
    assert set(FAMILIES) - {f for f, _ in policy.defaults} == {"invoice_verification_result"}


def test_per_rule_and_per_override_warn_fraction(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
warn_fraction: 0.75
defaults:
  case_referral:
    receipt: {amount: 1, unit: workdays}
    result: {amount: 30, unit: workdays, warn_fraction: 0.9}
overrides:
  - {sender: MIB, recipient: PROC, family: case_referral, stage: result, warn_fraction: 0.5}
  - {sender: MIB, recipient: PSB, family: case_referral, stage: acceptance, amount: 5,
     unit: workdays}
""",
    )
    loaded = load_sla_policy(path)
    assert loaded.warn_fraction == pytest.approx(0.75)
    receipt = loaded.rule("case_referral", "receipt", "A", "B")
    result = loaded.rule("case_referral", "result", "A", "B")
    override = loaded.rule("case_referral", "result", "MIB", "PROC")
    new_stage = loaded.rule("case_referral", "acceptance", "MIB", "PSB")
    assert receipt is not None and receipt.warn_fraction == pytest.approx(0.75)
    assert result is not None and result.warn_fraction == pytest.approx(0.9)
    assert override is not None
    assert override.warn_fraction == pytest.approx(0.5)
    assert override.deadline == Deadline(30, "workdays")  # inherited
    assert new_stage is not None and new_stage.deadline == Deadline(5, "workdays")
    assert loaded.lookup("case_referral", "acceptance", "A", "B") is None


def test_missing_warn_fraction_defaults_to_80_percent(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults:\n  case_referral:\n    receipt: {amount: 1, unit: hours}\n")
    rule = load_sla_policy(path).rule("case_referral", "receipt", "A", "B")
    assert rule is not None and rule.warn_fraction == pytest.approx(0.8)


def rule_yaml(body: str, family: str = "clue_transfer", stage: str = "receipt") -> str:
    return f"defaults:\n  {family}:\n    {stage}: {{{body}}}\n"


def override_yaml(body: str, family: str = "clue_transfer", stage: str = "result") -> str:
    pair = f"family: {family}, stage: {stage}"
    return f"overrides:\n  - {{sender: MIB, recipient: PSB, {pair}, {body}}}\n"


OK = "amount: 1, unit: hours"
D = "defaults.clue_transfer.receipt"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (rule_yaml(OK, family="clue_transfers"), "defaults.clue_transfers", "unknown family"),
        (rule_yaml(OK, stage="reciept"), "defaults.clue_transfer.reciept", "unknown stage"),
        (rule_yaml("amount: 1, unit: days"), f"{D}.unit", "unknown unit 'days'"),
        (rule_yaml("amount: 0, unit: hours"), f"{D}.amount", "positive integer, got 0"),
        (rule_yaml("amount: -3, unit: hours"), f"{D}.amount", "positive integer, got -3"),
        (rule_yaml("amount: 1.5, unit: hours"), f"{D}.amount", "positive integer, got 1.5"),
        (rule_yaml("amount: true, unit: hours"), f"{D}.amount", "positive integer, got True"),
        (rule_yaml("unit: hours"), f"{D}.amount", "positive integer, got None"),
        (rule_yaml(OK + ", warn_fraction: 1.0"), f"{D}.warn_fraction", "between 0 and 1, got 1.0"),
        (rule_yaml(OK + ", honour_requested: true"), f"{D}.honour_requested", "result stage only"),
        (
            rule_yaml(OK + ", honour_requested: 1", stage="result"),
            "defaults.clue_transfer.result.honour_requested",
            "true or false",
        ),
        (rule_yaml(OK + ", within: 2"), D, "unknown key(s) within"),
        ("defaults:\n  clue_transfer:\n    receipt: 3\n", D, "expected a mapping"),
        ("default:\n  clue_transfer: {}\n", "", "unknown key(s) default"),
        ("warn_fraction: 1\n", "warn_fraction", "strictly between 0 and 1, got 1"),
        ("warn_fraction: 0\n", "warn_fraction", "strictly between 0 and 1, got 0"),
        ("warn_fraction: 1.2\n", "warn_fraction", "strictly between 0 and 1, got 1.2"),
        ("warn_fraction: '0.8'\n", "warn_fraction", "strictly between 0 and 1, got '0.8'"),
        (override_yaml(OK, family="clue"), "overrides[0].family", "unknown family 'clue'"),
        (override_yaml(OK, stage="end"), "overrides[0].stage", "unknown stage 'end'"),
        (override_yaml("amount: 1, unit: weeks"), "overrides[0].unit", "unknown unit 'weeks'"),
        (override_yaml("amount: 0, unit: hours"), "overrides[0].amount", "positive integer"),
        (override_yaml(OK + ", warn_fraction: 0"), "overrides[0].warn_fraction", "got 0"),
        (override_yaml("unit: hours"), "overrides[0].amount", "positive integer, got None"),
        (
            "overrides:\n  - {recipient: PSB, family: clue_transfer, stage: result}\n",
            "overrides[0].sender",
            "non-empty string",
        ),
        (
            override_yaml(OK) + override_yaml(OK).replace("overrides:\n", ""),
            "overrides[1]",
            "duplicate override for clue_transfer/result/MIB/PSB",
        ),
        (
            override_yaml(OK).replace("recipient: PSB", "recipient: PBS"),
            "overrides[0].recipient",
            "unknown agency 'PBS'",
        ),
        ("overrides: {sender: MIB}\n", "overrides", "must be a list"),
        ("defaults: [\n", "", "cannot read SLA policy"),
    ],
)
def test_invalid_policy_files_name_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SlaPolicyError) as info:
        load_sla_policy(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    if key:
        assert f": {key}: " in message, message
    assert problem in message, message
