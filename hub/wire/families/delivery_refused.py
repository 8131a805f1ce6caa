"""退回通知 delivery refused: the hub operators tell a sender its message with documents was not
delivered, and why (``hub.runtime.ingress.returns``).  Not signed for and not answered."""

from __future__ import annotations

from hub.wire.envelope import Envelope
from hub.wire.families.base import Family, Payload, Problems, nonblank

NAME = "delivery_refused"


def check(p: Payload, env: Envelope) -> Problems:
    return nonblank(p, "refused_message_id", "reason", "dead_letter_id")


FAMILY = Family(
    NAME, "退回通知 message returned undelivered", check, order=120, business=False, hub_only=True
)
