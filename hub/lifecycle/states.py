"""The lifecycle of a delivered message, as a pure state machine.

    DELIVERED ─receipt→ RECEIVED ─acceptance(ACCEPTED)→ ACCEPTED ─feedback→ IN_PROGRESS
                                 └acceptance(RETURNED)→ RETURNED     (feedback repeats)
    ACCEPTED or IN_PROGRESS ─closure→ CLOSED

Which reply may follow which state is each family's own table (``Family.answered_by`` in
``hub.wire.families``): an invoice verification request, for one, has no acceptance step.  Who
may answer is checked here too: a reply must come from the connector the original was
delivered to and go to the original's sender.  The ledger
(``hub.lifecycle.ledger``) stores the state; this module only decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hub.core.errors import HubError
from hub.wire.deadletter import Reason
from hub.wire.families import family


class State(StrEnum):
    DELIVERED = "DELIVERED"
    RECEIVED = "RECEIVED"
    ACCEPTED = "ACCEPTED"
    RETURNED = "RETURNED"
    IN_PROGRESS = "IN_PROGRESS"
    CLOSED = "CLOSED"


TERMINAL = frozenset({State.RETURNED, State.CLOSED})


class IllegalTransition(HubError):
    """A reply the conversation's state or parties do not allow (dead-lettered with ``reason``)."""

    reason: Reason

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail, reason=reason.value)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}"


@dataclass(frozen=True)
class Conversation:
    """What the ledger knows about an original message, as the router needs it."""

    message_id: str
    family: str
    sender: str  # AGENCY@REGION of the original's sender
    routed_to: str  # the connector it was delivered to: the only one that may answer
    state: State


def transition(
    state: State, reply_family: str, payload: dict[str, Any] | None, *, original_family: str
) -> State:
    """The state after ``reply_family`` is applied, or raise :class:`IllegalTransition`."""
    if state in TERMINAL:
        verb = "closed" if state is State.CLOSED else "returned"
        raise IllegalTransition(
            Reason.ILLEGAL_TRANSITION,
            f"{reply_family} after the message was already {verb} (state {state})",
        )
    original = family(original_family)
    names = original.answered_by.get(reply_family) if original is not None else None
    if names is None:
        raise IllegalTransition(
            Reason.ILLEGAL_TRANSITION,
            f"{reply_family} does not answer a {original_family}",
        )
    allowed = {State(n) for n in names}
    if state not in allowed:
        raise IllegalTransition(
            Reason.ILLEGAL_TRANSITION,
            f"{reply_family} is not allowed in state {state} "
            f"(only after {', '.join(sorted(allowed))})",
        )
    return state_after(reply_family, payload)


def state_after(reply_family: str, payload: Mapping[str, Any] | None) -> State:
    """The state a (legal) reply leads to; the audit log repeats it for a redelivered reply."""
    fam = family(reply_family)
    if fam is None or fam.next_state is None:
        raise IllegalTransition(Reason.ILLEGAL_TRANSITION, f"{reply_family} is not a reply")
    return State(fam.next_state(payload or {}))


def check_parties(conv: Conversation, reply_sender: str, reply_recipient: str) -> None:
    """A reply comes from whoever received the original and goes back to its sender."""
    if reply_sender != conv.routed_to:
        raise IllegalTransition(
            Reason.ILLEGAL_TRANSITION,
            f"only {conv.routed_to} (which received {conv.message_id}) may answer it, "
            f"not {reply_sender}",
        )
    if reply_recipient != conv.sender:
        raise IllegalTransition(
            Reason.ILLEGAL_TRANSITION,
            f"an answer to {conv.message_id} goes to its sender {conv.sender}, "
            f"not to {reply_recipient}",
        )


def fulfils(reply_family: str, payload: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The obligation stages a reply fulfils once applied (see ``hub.lifecycle.ledger``)."""
    fam = family(reply_family)
    return fam.fulfils(payload or {}) if fam is not None else ()
