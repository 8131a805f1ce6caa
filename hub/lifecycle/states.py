"""The lifecycle of a delivered message, as a pure state machine.

    DELIVERED ─receipt→ RECEIVED ─acceptance(ACCEPTED)→ ACCEPTED ─feedback→ IN_PROGRESS
                                 └acceptance(RETURNED)→ RETURNED     (feedback repeats)
    ACCEPTED or IN_PROGRESS ─closure→ CLOSED

An invoice verification request has no acceptance step: its InvoiceVerificationResult closes
it, with or without a receipt first.  Who may answer is checked here too: a reply must come from
the connector the original was delivered to and go to the original's sender.  The ledger
(``hub.lifecycle.ledger``) stores the state; this module only decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hub.core.errors import HubError
from hub.wire.deadletter import Reason


class State(StrEnum):
    DELIVERED = "DELIVERED"
    RECEIVED = "RECEIVED"
    ACCEPTED = "ACCEPTED"
    RETURNED = "RETURNED"
    IN_PROGRESS = "IN_PROGRESS"
    CLOSED = "CLOSED"


TERMINAL = frozenset({State.RETURNED, State.CLOSED})
INVOICE_REQUEST = "invoice_verification_request"
INVOICE_RESULT = "invoice_verification_result"

#: (reply family, states it may follow) for originals with the full lifecycle.
_FULL: dict[str, frozenset[State]] = {
    "receipt": frozenset({State.DELIVERED}),
    "acceptance": frozenset({State.RECEIVED}),
    "feedback": frozenset({State.ACCEPTED, State.IN_PROGRESS}),
    "closure": frozenset({State.ACCEPTED, State.IN_PROGRESS}),
}
_INVOICE: dict[str, frozenset[State]] = {
    "receipt": frozenset({State.DELIVERED}),
    INVOICE_RESULT: frozenset({State.DELIVERED, State.RECEIVED}),
}

#: Which obligation stages a reply fulfils once applied (see hub.lifecycle.ledger).
FULFILS: dict[tuple[str, str], tuple[str, ...]] = {
    ("receipt", ""): ("receipt",),
    ("acceptance", "ACCEPTED"): ("acceptance",),
    # A returned matter will never have a result: nothing is owed any more.
    ("acceptance", "RETURNED"): ("acceptance", "result"),
    ("closure", ""): ("result",),
    (INVOICE_RESULT, ""): ("receipt", "result"),
}


class IllegalTransition(HubError):
    """A reply the conversation's state or parties do not allow (dead-lettered with ``reason``)."""

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
    table = _INVOICE if original_family == INVOICE_REQUEST else _FULL
    allowed = table.get(reply_family)
    if allowed is None:
        raise IllegalTransition(
            Reason.ILLEGAL_TRANSITION,
            f"{reply_family} does not answer a {original_family}",
        )
    if state not in allowed:
        raise IllegalTransition(
            Reason.ILLEGAL_TRANSITION,
            f"{reply_family} is not allowed in state {state} "
            f"(only after {', '.join(sorted(allowed))})",
        )
    return state_after(reply_family, payload)


def state_after(reply_family: str, payload: dict[str, Any] | None) -> State:
    """The state a (legal) reply leads to; the audit log repeats it for a redelivered reply."""
    if reply_family == "receipt":
        return State.RECEIVED
    if reply_family == "acceptance":
        decision = (payload or {}).get("decision")
        return State.RETURNED if decision == "RETURNED" else State.ACCEPTED
    if reply_family == "feedback":
        return State.IN_PROGRESS
    return State.CLOSED  # closure, invoice result


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


def fulfils(reply_family: str, payload: dict[str, Any] | None) -> tuple[str, ...]:
    decision = (payload or {}).get("decision", "") if reply_family == "acceptance" else ""
    return FULFILS.get((reply_family, decision), ())
