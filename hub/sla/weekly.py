"""The weekly report's duty: each week, every county and city bureau owes the bureau one level up
its 周报表 by Wednesday (临医保发〔2019〕8号: "连同周报表每周三…发送至市医疗保障局").

No message opens this deadline, so the hub opens it: for each ISO week and each bureau (MIB)
at county or city level whose supervising bureau has a connector, a ledger row of family
``weekly_report`` from the supervising bureau to it, ``duty_id(bureau, week)``, with one
obligation, ``result``, due at the end of the Wednesday after the week (the next working day
when that Wednesday is a holiday), warned a day before and escalated after the usual grace.
The bureau's ``weekly_report`` answers that row: a reply like any other, so the SLA clock warns,
breaches and escalates it as it does every deadline, and a report sent twice is refused.

Pure: the caller gives the directory's addresses, the calendar and the instants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hub.core.clock import BEIJING
from hub.lifecycle.rows import Obligation, Original
from hub.sla.workdays import WorkCalendar, end_of_local_day
from hub.storage.store import DeliveryRow
from hub.trust.address import Address
from hub.trust.regions import ancestors, level

FAMILY = "weekly_report"
AGENCY = "MIB"
#: The levels that report upward (the notice has no province → national report).
REPORTING_LEVELS = ("county", "city")
WEDNESDAY = 2


def duty_id(bureau: Address | str, week: str) -> str:
    """The ledger id of ``bureau``'s weekly report duty for ``week``: what its report answers."""
    return f"weekly-{str(bureau).replace('@', '-')}-{week}"


def week_of(at: datetime) -> str:
    """The ISO week (Beijing time) ``at`` falls in, e.g. 2026-W49."""
    year, week, _ = at.astimezone(BEIJING).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(week: str) -> datetime:
    year, number = week.split("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    return datetime(monday.year, monday.month, monday.day, tzinfo=BEIJING).astimezone(UTC)


def due_at(week: str, calendar: WorkCalendar) -> datetime:
    """The end of the Wednesday after ``week``, or of the next working day after it when that
    Wednesday is not one (a report is not due on a holiday)."""
    day = (week_start(week) + timedelta(days=7 + WEDNESDAY)).astimezone(BEIJING).date()
    for _ in range(30):
        if calendar.is_workday(day):
            break
        day += timedelta(days=1)
    return end_of_local_day(day)


@dataclass(frozen=True)
class Duty:
    """One bureau's weekly report owed to the bureau above, for one week."""

    message_id: str
    week: str
    debtor: Address  # the reporting bureau
    creditor: Address  # the bureau it reports to
    opened_at: datetime
    obligation: Obligation

    def original(self) -> Original:
        """The duty as the ledger keeps a delivered original: from the bureau above to it."""
        row = DeliveryRow(
            message_id=self.message_id,
            conversation_id=self.message_id,
            family=FAMILY,
            sender=str(self.creditor),
            recipient=str(self.debtor),
            routed_to=str(self.debtor),
            fallback=False,
            created_at=self.opened_at,
            routed_at=self.opened_at,
        )
        return Original(row, self.opened_at)


def supervisor(bureau: Address, registered: set[Address]) -> Address | None:
    """The nearest registered MIB above ``bureau``, when ``bureau`` reports upward at all."""
    if bureau.agency != AGENCY or level(bureau.region) not in REPORTING_LEVELS:
        return None
    for region in ancestors(bureau.region):
        candidate = Address(AGENCY, region)
        if candidate in registered:
            return candidate
    return None


def duties(
    addresses: set[Address], week: str, calendar: WorkCalendar, escalation_grace: timedelta
) -> list[Duty]:
    """The duties of ``week``: one per reporting bureau with a registered supervisor."""
    opened = week_start(week)
    due = due_at(week, calendar)
    out = []
    for bureau in sorted(addresses, key=str):
        above = supervisor(bureau, addresses)
        if above is None:
            continue
        mid = duty_id(bureau, week)
        out.append(
            Duty(
                mid,
                week,
                bureau,
                above,
                opened,
                Obligation(
                    obligation_id=f"{mid}:result",
                    message_id=mid,
                    stage="result",
                    debtor=str(bureau),
                    creditor=str(above),
                    family=FAMILY,
                    risk_level=None,
                    started_at=opened,
                    warn_at=due - timedelta(days=1),
                    due_at=due,
                    escalate_at=due + escalation_grace,
                ),
            )
        )
    return out
