"""时限事件 SLA event: a warning, breach, escalation or flight-inspection flag the hub raises."""

from __future__ import annotations

from hub.wire.envelope import Envelope
from hub.wire.families.base import Family, Payload, Problems, nonblank

NAME = "sla_event"


def check(p: Payload, env: Envelope) -> Problems:
    return nonblank(p, "event_id", "message_id")


FAMILY = Family(NAME, "时限事件 SLA event", check, order=100, business=False, hub_only=True)
