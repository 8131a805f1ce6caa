"""SLA deadlines as data: which obligation a message creates, when it is due, whom to escalate to.

The rules live in ``data/sla.yaml`` so that supervisors can change a deadline without a code
release; this module validates that file and does the (pure) arithmetic around it.  Working-day
arithmetic itself is :mod:`hub.sla.workdays`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from hub.core.errors import ConfigError
from hub.core.paths import SLA_FILE
from hub.sla.workdays import WorkCalendar, require_aware
from hub.trust.agencies import AGENCIES
from hub.wire.families import BUSINESS_FAMILIES

Unit = Literal["hours", "workdays"]
Stage = Literal["receipt", "acceptance", "result"]

UNITS: tuple[str, ...] = get_args(Unit)
STAGES: tuple[str, ...] = get_args(Stage)
#: The families the SLA file may name: the domain's hand-offs and their answers.
FAMILIES: tuple[str, ...] = BUSINESS_FAMILIES
DEFAULT_WARN_FRACTION = 0.8

_TOP_KEYS = frozenset({"warn_fraction", "defaults", "overrides"})
_RULE_KEYS = frozenset({"amount", "unit", "warn_fraction", "honour_requested"})
_PAIR_KEYS = frozenset({"sender", "recipient", "family", "stage"})


class SlaPolicyError(ConfigError):
    """The SLA policy file is malformed; the message names the file and the offending key."""


@dataclass(frozen=True)
class Deadline:
    amount: int
    unit: Unit

    def __post_init__(self) -> None:
        # bool is an int subclass; "amount: yes" in YAML must not become a 1-hour deadline.
        if not isinstance(self.amount, int) or isinstance(self.amount, bool) or self.amount < 1:
            raise ValueError(f"deadline amount must be a positive integer, got {self.amount!r}")
        if self.unit not in UNITS:
            raise ValueError(f"deadline unit must be one of {UNITS}, got {self.unit!r}")


@dataclass(frozen=True)
class SlaRule:
    deadline: Deadline
    warn_fraction: float = DEFAULT_WARN_FRACTION
    #: Whether a deadline requested by the sender replaces ``deadline`` (result stage only).
    honour_requested: bool = False


@dataclass(frozen=True)
class SlaPolicy:
    #: (family, stage) -> rule
    defaults: Mapping[tuple[str, str], SlaRule] = field(default_factory=dict)
    #: (family, stage, sender agency, recipient agency) -> rule
    overrides: Mapping[tuple[str, str, str, str], SlaRule] = field(default_factory=dict)
    warn_fraction: float = DEFAULT_WARN_FRACTION

    def rule(
        self, family: str, stage: str, sender_agency: str, recipient_agency: str
    ) -> SlaRule | None:
        """The rule for this obligation, pair override first; ``None`` means no obligation.

        Unknown families and stages raise ``ValueError``: a typo at a call site must not read
        as "no deadline".
        """
        _check_name("family", family, FAMILIES)
        _check_name("stage", stage, STAGES)
        override = self.overrides.get((family, stage, sender_agency, recipient_agency))
        return override if override is not None else self.defaults.get((family, stage))

    def lookup(
        self, family: str, stage: str, sender_agency: str, recipient_agency: str
    ) -> Deadline | None:
        rule = self.rule(family, stage, sender_agency, recipient_agency)
        return rule.deadline if rule is not None else None

    def due(
        self,
        family: str,
        stage: str,
        sender_agency: str,
        recipient_agency: str,
        start: datetime,
        calendar: WorkCalendar,
        requested: datetime | None = None,
    ) -> datetime | None:
        """The due instant of this obligation, honouring ``requested`` only where the rule
        allows it (so callers can pass the sender's request for every stage unfiltered)."""
        rule = self.rule(family, stage, sender_agency, recipient_agency)
        if rule is None:
            return None
        honoured = requested if stage == "result" and rule.honour_requested else None
        return compute_due(start, rule.deadline, calendar, honoured)


def compute_due(
    start: datetime,
    deadline: Deadline,
    calendar: WorkCalendar,
    requested: datetime | None = None,
) -> datetime:
    """When an obligation started at ``start`` is due, as an aware UTC datetime.

    * ``hours``: ``start`` plus that many elapsed hours (Beijing time has no DST, so wall
      clock and elapsed time agree).
    * ``workdays``: end of the N-th working day after the start's Beijing date, see
      :meth:`hub.sla.workdays.WorkCalendar.add_workdays`.
    * ``requested``: the sender's own deadline.  It replaces the computed one as given
      (even if later, or already past), and it applies **only to the result stage** of
      families whose rule sets ``honour_requested``; it is the caller's duty not to pass it
      otherwise, which :meth:`SlaPolicy.due` does for you.
    """
    require_aware(start, "start")
    if requested is not None:
        require_aware(requested, "requested")
        return requested.astimezone(UTC)
    if deadline.unit == "hours":
        return (start + timedelta(hours=deadline.amount)).astimezone(UTC)
    return calendar.add_workdays(start, deadline.amount)


def warn_at(start: datetime, due: datetime, fraction: float) -> datetime:
    """The instant ``fraction`` of the way from ``start`` to ``due`` in wall-clock time.

    Wall clock, not working time: a warning at 80 % of a 30-working-day interval may land on a
    holiday, which is what a supervisor wants — they see it on the first day back, not late.
    When ``due`` is not after ``start`` (a requested deadline already past) the warning is
    due immediately, so ``due`` itself is returned.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction!r}")
    require_aware(start, "start")
    require_aware(due, "due")
    if due <= start:
        return due.astimezone(UTC)
    return (start + (due - start) * fraction).astimezone(UTC)


# -- loading ----------------------------------------------------------------------------------


def load_sla_policy(path: str | Path | None = None) -> SlaPolicy:
    """Load and validate an SLA file (default: the packaged ``hub/data/sla.yaml``).

    Every problem raises :class:`SlaPolicyError` naming the file and the dotted key, e.g.
    ``sla.yaml: defaults.clue_transfer.result.amount: must be a positive integer, got 0``.
    """
    file = Path(path) if path is not None else SLA_FILE
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SlaPolicyError(f"{file}: cannot read SLA policy: {exc}") from exc
    if data is None:
        data = {}
    _expect_mapping(file, "<top level>", data)
    _reject_unknown(file, "", data, _TOP_KEYS)

    global_fraction = DEFAULT_WARN_FRACTION
    if "warn_fraction" in data:
        global_fraction = _fraction(file, "warn_fraction", data["warn_fraction"])

    raw_defaults = data.get("defaults") or {}
    _expect_mapping(file, "defaults", raw_defaults)
    base_raw: dict[tuple[str, str], Mapping[str, Any]] = {}
    defaults: dict[tuple[str, str], SlaRule] = {}
    for family, stages in raw_defaults.items():
        key = f"defaults.{family}"
        _known(file, key, "family", family, FAMILIES)
        stages = stages or {}
        _expect_mapping(file, key, stages)
        for stage, raw_rule in stages.items():
            rule_key = f"{key}.{stage}"
            _known(file, rule_key, "stage", stage, STAGES)
            _expect_mapping(file, rule_key, raw_rule)
            base_raw[(family, stage)] = raw_rule
            defaults[(family, stage)] = _rule(file, rule_key, stage, raw_rule, global_fraction)

    raw_overrides = data.get("overrides") or []
    if not isinstance(raw_overrides, list):
        raise SlaPolicyError(f"{file}: overrides: must be a list")
    overrides: dict[tuple[str, str, str, str], SlaRule] = {}
    for i, raw in enumerate(raw_overrides):
        key = f"overrides[{i}]"
        _expect_mapping(file, key, raw)
        _reject_unknown(file, key, raw, _PAIR_KEYS | _RULE_KEYS)
        for required in sorted(_PAIR_KEYS):
            value = raw.get(required)
            if not isinstance(value, str) or not value:
                raise SlaPolicyError(f"{file}: {key}.{required}: must be a non-empty string")
        for side in ("sender", "recipient"):
            # An override for a misspelt agency would never match and fail silently.
            if raw[side] not in AGENCIES:
                raise SlaPolicyError(
                    f"{file}: {key}.{side}: unknown agency {raw[side]!r}; "
                    f"expected one of {tuple(AGENCIES)}"
                )
        family, stage = raw["family"], raw["stage"]
        _known(file, f"{key}.family", "family", family, FAMILIES)
        _known(file, f"{key}.stage", "stage", stage, STAGES)
        pair = (family, stage, raw["sender"], raw["recipient"])
        if pair in overrides:
            raise SlaPolicyError(f"{file}: {key}: duplicate override for {'/'.join(pair)}")
        # Unstated keys come from the default rule, so an override may change only the
        # deadline or only the warning threshold.
        merged = {**base_raw.get((family, stage), {})}
        merged.update({k: v for k, v in raw.items() if k in _RULE_KEYS})
        overrides[pair] = _rule(file, key, stage, merged, global_fraction)

    return SlaPolicy(defaults, overrides, global_fraction)


def _rule(
    file: Path, key: str, stage: str, raw: Mapping[str, Any], global_fraction: float
) -> SlaRule:
    _reject_unknown(file, key, raw, _RULE_KEYS)
    amount = raw.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
        raise SlaPolicyError(f"{file}: {key}.amount: must be a positive integer, got {amount!r}")
    unit = raw.get("unit")
    if unit not in UNITS:
        raise SlaPolicyError(f"{file}: {key}.unit: unknown unit {unit!r}; expected one of {UNITS}")
    fraction = global_fraction
    if "warn_fraction" in raw:
        fraction = _fraction(file, f"{key}.warn_fraction", raw["warn_fraction"])
    honour = raw.get("honour_requested", False)
    if not isinstance(honour, bool):
        raise SlaPolicyError(f"{file}: {key}.honour_requested: must be true or false")
    if honour and stage != "result":
        raise SlaPolicyError(
            f"{file}: {key}.honour_requested: a requested deadline applies to the result stage only"
        )
    return SlaRule(Deadline(amount, unit), fraction, honour)


def _fraction(file: Path, key: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw < 1:
        raise SlaPolicyError(
            f"{file}: {key}: must be a number strictly between 0 and 1, got {raw!r}"
        )
    return float(raw)


def _known(file: Path, key: str, what: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SlaPolicyError(f"{file}: {key}: unknown {what} {value!r}; expected one of {allowed}")


def _expect_mapping(file: Path, key: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise SlaPolicyError(f"{file}: {key}: expected a mapping, got {value!r}")


def _reject_unknown(file: Path, key: str, raw: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(str(k) for k in set(raw) - allowed)
    if unknown:
        where = f"{key}: " if key else ""
        raise SlaPolicyError(f"{file}: {where}unknown key(s) {', '.join(unknown)}")


def _check_name(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {allowed}")
