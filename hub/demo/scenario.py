"""The scripted week, as data: what each department sends and answers, and when.

Pure and deterministic for a seed: the seed picks which county gets each clue of the national
batch, what kind of subject it names, its amount, and how (and whether) it is closed this week;
everything else is fixed.  Payloads are JSON (``hub.wire.jsonpayload`` form); the people and
institutions in them are invented, with valid check digits.

The week is the next plain working week from today (Beijing time), so that the hub's clock only
ever moves forward from the real one: envelopes carry real creation times and the broker real
timestamps, and a hub clock behind them would judge every message as coming from the future.
The same seed plays the same week in whichever week it is played.

- Mon: the national bureau sends 疑点线索 第一批 to the province, which passes it to 泉州, which
  dispatches each clue to a county bureau; a whistle-blower clue goes to 晋江; a fraud-gang clue
  to the city police (accepted, investigated); a medical-conduct clue to the health commission;
  晋江's bureau sends its police a clue that is never signed for.
- Tue: two e-invoice checks to the finance bureau (one invoice was voided); a case referral
  MIB → PSB; a corruption clue to the discipline commission, end-to-end encrypted.
- Wed: 晋江 police's silence breaches its receipt deadline (the end of the next working day);
  the referral moves PSB → PROC.
- Thu: the breach, a day unanswered, is escalated to the city police; PROC → COURT; the health
  commission closes its clue; a high-risk clue 南安 was asked to finish by Wednesday is flagged
  for 飞行检查; the counties close clues.
- Fri: more closures, the whistle-blower clue among them; 晋江 police miss their acceptance too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from hub.core.clock import BEIJING
from hub.demo.payloads import (
    clue_facts,
)

REGION = "350500"

NATIONAL = "MIB@100000"
PROVINCE = "MIB@350000"
CITY = "MIB@350500"
JINJIANG, NANAN, SHISHI = "MIB@350582", "MIB@350583", "MIB@350581"
COUNTIES = (JINJIANG, NANAN, SHISHI)
PSB, PSB_JINJIANG = "PSB@350500", "PSB@350582"
PROC, COURT, FIN, HEALTH, CDI = (
    "PROC@350500",
    "COURT@350500",
    "FIN@350500",
    "HEALTH@350500",
    "CDI@350500",
)
#: Every department the demo gives a connector.
DEPARTMENTS = (
    NATIONAL,
    PROVINCE,
    CITY,
    *COUNTIES,
    PSB,
    PSB_JINJIANG,
    PROC,
    COURT,
    FIN,
    HEALTH,
    CDI,
)

#: Departments whose systems speak only HTTP: they take part through their own `hub gateway`.
VIA_GATEWAY = (HEALTH,)

BATCH_SIZE = 8
SLOW_CLUE = 3  # the high-risk clue of the batch 南安 is asked to finish by Wednesday

#: Kinds of subject the national batch names, and the sanctions a verified clue brings.
SUBJECTS = ("HOSPITAL", "PHARMACY", "INSURED_PERSON")
SANCTIONS = {
    "HOSPITAL": ({"INTERVIEW": 1, "SUSPENSION": 1}, {"INTERVIEW": 1}, {"AGREEMENT_TERMINATED": 1}),
    "PHARMACY": ({"INTERVIEW": 1}, {"SUSPENSION": 1, "FINED": 1}, {"BLACKLISTED": 1}),
    "INSURED_PERSON": ({"OTHER": 1}, {"FINED": 1}, {"REFERRED_TO_JUDICIAL": 1}),
}
CATEGORIES = {
    "HOSPITAL": ("PHANTOM_INPATIENT", "OVER_STANDARD_FEES", "ITEM_SWAPPING"),
    "PHARMACY": ("DRUG_RESELLING", "FAKE_DRUG_PURCHASE"),
    "INSURED_PERSON": ("CARD_SKIMMING", "FAKE_TREATMENT"),
}


@dataclass(frozen=True)
class Step:
    """One thing a department does at one moment (Beijing time) of the week."""

    at: datetime
    actor: str
    action: str  # send | receipt | accept | feedback | close | expect
    ref: str  # the message sent, or the one answered / awaited
    say: str
    family: str = ""
    to: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Script:
    seed: int
    monday: date
    steps: tuple[Step, ...]

    @property
    def week(self) -> str:
        year, week, _ = self.monday.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def end(self) -> datetime:
        """Saturday 10:00: every timer of the week has fired; the report is made then."""
        return moment(self.monday, 5, 10)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "week": self.week,
            "region": REGION,
            "steps": [
                {
                    "at": s.at.isoformat(),
                    "actor": s.actor,
                    "action": s.action,
                    "ref": s.ref,
                    "family": s.family,
                    "to": s.to,
                    "say": s.say,
                    "args": s.args,
                    # Only what the report needs of a payload: never names or ID numbers.
                    "clue": clue_facts(s.payload) if s.family == "clue_transfer" else None,
                }
                for s in self.steps
            ],
        }


def next_plain_monday(now: datetime, is_workday: Callable[[date], bool]) -> date:
    """The first Monday after ``now`` (Beijing) of a week of five working days and a free
    Saturday: the script's deadlines (工作日) fall where it expects them only in such a week."""
    today = now.astimezone(BEIJING).date()
    monday = today + timedelta(days=7 - today.weekday())
    while not (
        all(is_workday(monday + timedelta(days=d)) for d in range(5))
        and not is_workday(monday + timedelta(days=5))
    ):
        monday += timedelta(days=7)
    return monday


def moment(monday: date, day: int, hour: int, minute: int = 0) -> datetime:
    """Day 0 is Monday of the week, Beijing time."""
    d = monday + timedelta(days=day)
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=BEIJING)
