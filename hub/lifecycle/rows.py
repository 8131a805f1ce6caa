"""The ledger's rows as data classes: an obligation, an SLA event, a delivered original."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hub.core.clock import as_utc
from hub.storage.store import DeliveryRow


@dataclass(frozen=True)
class Obligation:
    obligation_id: str
    message_id: str
    stage: str
    debtor: str
    creditor: str
    family: str
    risk_level: str | None
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    escalate_at: datetime
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    escalated_at: datetime | None = None
    fulfilled_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> Obligation:
        values = dict(row)
        for k, v in values.items():
            if isinstance(v, datetime):
                values[k] = as_utc(v)
        return cls(**values)


@dataclass(frozen=True)
class SlaEventRow:
    event_id: str
    obligation_id: str
    kind: str
    stage: str
    message_id: str
    family: str
    debtor: str
    creditor: str
    due_at: datetime
    fired_at: datetime
    escalated_to: list[str] = field(default_factory=list)
    risk_level: str | None = None

    def to_values(self) -> dict[str, Any]:
        values = asdict(self)
        values["escalated_to"] = json.dumps(self.escalated_to)
        values["due_at"] = as_utc(self.due_at)
        values["fired_at"] = as_utc(self.fired_at)
        return values

    @classmethod
    def from_row(cls, row: Any) -> SlaEventRow:
        values = {k: row[k] for k in cls.__dataclass_fields__}
        values["escalated_to"] = json.loads(values["escalated_to"])
        values["due_at"] = as_utc(values["due_at"])
        values["fired_at"] = as_utc(values["fired_at"])
        return cls(**values)

    def to_record(self) -> dict[str, Any]:
        """The Avro ``sla_event.v1`` record."""
        record = asdict(self)
        record.pop("obligation_id")
        return record


@dataclass(frozen=True)
class Original:
    """What the ledger keeps of an original message when it is delivered."""

    delivery: DeliveryRow
    delivered_at: datetime
    risk_level: str | None = None
    #: The sender's own reference of the hand-off (clue id, hand-off id, case number …).
    reference: str | None = None
