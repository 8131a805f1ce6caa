"""SLA clocks: which obligations a delivery opens, and the timer tick that fires their events.

``plan_obligations`` turns a delivered original into obligation rows using the SLA policy
(``hub.sla.policy``) and the working-day calendar (``hub.sla.workdays``).  ``SlaClock.tick(now)``
finds what is due through the ledger's indexes and claims each event in the database, so any
number of workers (and a restarted one) fire every event exactly once.  ``now`` is passed in:
the caller owns the clock (``hub.core.clock``), tests inject theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from hub.lifecycle.ledger import Ledger
from hub.lifecycle.rows import Obligation, SlaEventRow
from hub.sla.policy import FAMILIES as SLA_FAMILIES
from hub.sla.policy import STAGES, SlaPolicy, warn_at
from hub.sla.workdays import WorkCalendar, end_of_local_day
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.operators import OPERATORS
from hub.trust.regions import ancestors

log = logging.getLogger("hub.sla")

HIGH_RISK = "HIGH"
KINDS = ("WARNING", "BREACH", "ESCALATION")


def plan_obligations(
    policy: SlaPolicy,
    calendar: WorkCalendar,
    *,
    message_id: str,
    family: str,
    sender: str,
    debtor: str,
    payload: dict[str, Any] | None,
    delivered_at: datetime,
    escalation_grace: timedelta,
) -> list[Obligation]:
    """The obligations a delivered original opens: one per stage the policy gives a deadline.

    Every stage runs from the delivery (限时办结 counts from the hand-off), so a slow receipt
    does not buy extra time for the result.  A clue's ``requested_deadline`` (a date) means the
    end of that day in Beijing, and replaces the result deadline where the policy allows it.
    """
    if family not in SLA_FAMILIES:
        return []
    requested = _requested(payload)
    sender_agency, debtor_agency = sender.split("@")[0], debtor.split("@")[0]
    out: list[Obligation] = []
    for stage in STAGES:
        rule = policy.rule(family, stage, sender_agency, debtor_agency)
        if rule is None:
            continue
        due = policy.due(
            family, stage, sender_agency, debtor_agency, delivered_at, calendar, requested
        )
        assert due is not None
        out.append(
            Obligation(
                obligation_id=f"{message_id}:{stage}",
                message_id=message_id,
                stage=stage,
                debtor=debtor,
                creditor=sender,
                family=family,
                risk_level=(payload or {}).get("risk_level"),
                started_at=delivered_at,
                warn_at=warn_at(delivered_at, due, rule.warn_fraction),
                due_at=due,
                escalate_at=due + escalation_grace,
            )
        )
    return out


def _requested(payload: dict[str, Any] | None) -> datetime | None:
    value = (payload or {}).get("requested_deadline")
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, date):
        return end_of_local_day(value)
    return None


def escalation_recipients(directory: Directory, debtor: Address) -> list[Address]:
    """The debtor agency's nearest registered supervising level, then always the operators."""
    out: list[Address] = []
    for region in ancestors(debtor.region):
        candidate = Address(debtor.agency, region)
        if directory.has(candidate):
            out.append(candidate)
            break
    out.append(OPERATORS)
    return out


@dataclass
class TickReport:
    fired: list[SlaEventRow] = field(default_factory=list)
    lost_races: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for e in self.fired if e.kind == kind)


class SlaClock:
    """One timer tick: fire every due warning, breach and escalation, each once."""

    def __init__(
        self,
        ledger: Ledger,
        directory: Callable[[], Directory],
        *,
        batch: int = 500,
        on_fired: Callable[[SlaEventRow], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.directory = directory
        self.batch = batch
        self.on_fired = on_fired

    def tick(self, now: datetime) -> TickReport:
        report = TickReport()
        # Warnings before breaches before escalations: an obligation found late (the hub was
        # down) still reports in the order the deadlines passed.
        for kind in KINDS:
            while True:
                due = self.ledger.due(kind, now, self.batch)
                fired = self.ledger.fire(kind, now, due, partial(self._events, kind=kind, now=now))
                report.fired.extend(fired)
                report.lost_races += len(due) - len({e.obligation_id for e in fired})
                for ev in fired:
                    log.warning(
                        "SLA %s: %s of %s %s owed by %s to %s, due %s",
                        ev.kind,
                        ev.stage,
                        ev.family,
                        ev.message_id,
                        ev.debtor,
                        ev.creditor,
                        ev.due_at.isoformat(timespec="seconds"),
                    )
                    if self.on_fired is not None:
                        self.on_fired(ev)
                if len(due) < self.batch:
                    break
        return report

    def _events(self, ob: Obligation, kind: str, now: datetime) -> list[SlaEventRow]:
        def event(k: str, to: list[str]) -> SlaEventRow:
            return SlaEventRow(
                event_id=f"{ob.obligation_id}:{k}",
                obligation_id=ob.obligation_id,
                kind=k,
                stage=ob.stage,
                message_id=ob.message_id,
                family=ob.family,
                debtor=ob.debtor,
                creditor=ob.creditor,
                due_at=ob.due_at,
                fired_at=now,
                escalated_to=to,
                risk_level=ob.risk_level,
            )

        if kind == "ESCALATION":
            to = escalation_recipients(self.directory(), Address.parse(ob.debtor))
            return [event(kind, [str(a) for a in to])]
        events = [event(kind, [])]
        if (
            kind == "BREACH"
            and ob.stage == "result"
            and ob.family == "clue_transfer"
            and ob.risk_level == HIGH_RISK
        ):
            # 纳入飞行检查: a high-risk clue whose verification is overdue goes to the operators.
            events.append(event("FLIGHT_INSPECTION", [str(OPERATORS)]))
        return events


def recipients_of(ev: SlaEventRow) -> list[Address]:
    """Every inbox an SLA event is copied to: the creditor, plus whom it escalates to."""
    out = [Address.parse(ev.creditor)]
    for text in ev.escalated_to:
        address = Address.parse(text)
        if address not in out:
            out.append(address)
    return out
