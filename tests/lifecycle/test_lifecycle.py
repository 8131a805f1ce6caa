"""The lifecycle state machine (pure, no broker, no database)."""

from __future__ import annotations

import pytest

from hub.lifecycle.states import (
    Conversation,
    IllegalTransition,
    State,
    check_parties,
    fulfils,
    transition,
)
from hub.wire.deadletter import Reason

CLUE = "clue_transfer"
INVOICE = "invoice_verification_request"


def run(original: str, *steps: tuple[str, dict | None]) -> State:
    state = State.DELIVERED
    for family, payload in steps:
        state = transition(state, family, payload, original_family=original)
    return state


def test_the_full_lifecycle_of_a_clue() -> None:
    state = State.DELIVERED
    expected = [
        ("receipt", None, State.RECEIVED),
        ("acceptance", {"decision": "ACCEPTED"}, State.ACCEPTED),
        ("feedback", {"note": "调取病历"}, State.IN_PROGRESS),
        ("feedback", {"note": "约谈院长"}, State.IN_PROGRESS),
        ("closure", {"result": "VERIFIED_TRUE"}, State.CLOSED),
    ]
    for family, payload, after in expected:
        state = transition(state, family, payload, original_family=CLUE)
        assert state is after


def test_closure_may_follow_acceptance_directly() -> None:
    assert (
        run(CLUE, ("receipt", None), ("acceptance", {"decision": "ACCEPTED"}), ("closure", {}))
        is State.CLOSED
    )


def test_a_return_ends_the_conversation() -> None:
    state = run(CLUE, ("receipt", None), ("acceptance", {"decision": "RETURNED", "reason": "x"}))
    assert state is State.RETURNED
    with pytest.raises(IllegalTransition, match="already returned"):
        transition(state, "feedback", {}, original_family=CLUE)


def test_an_invoice_request_closes_with_its_result_with_or_without_receipt() -> None:
    assert run(INVOICE, ("invoice_verification_result", {})) is State.CLOSED
    assert run(INVOICE, ("receipt", None), ("invoice_verification_result", {})) is State.CLOSED


@pytest.mark.parametrize(
    ("original", "steps", "bad", "match"),
    [
        (CLUE, [], "feedback", "not allowed in state DELIVERED"),
        (CLUE, [], "acceptance", "not allowed in state DELIVERED"),
        (CLUE, [], "closure", "not allowed in state DELIVERED"),
        (CLUE, [("receipt", None)], "receipt", "not allowed in state RECEIVED"),
        (CLUE, [("receipt", None)], "closure", "not allowed in state RECEIVED"),
        (
            CLUE,
            [("receipt", None), ("acceptance", {"decision": "ACCEPTED"}), ("closure", {})],
            "closure",
            "already closed",
        ),
        (CLUE, [("receipt", None)], "invoice_verification_result", "does not answer"),
        (INVOICE, [("receipt", None)], "acceptance", "does not answer"),
        (INVOICE, [("receipt", None)], "closure", "does not answer"),
        (INVOICE, [("invoice_verification_result", {})], "invoice_verification_result", "closed"),
    ],
)
def test_illegal_transitions_name_their_reason(original, steps, bad, match) -> None:
    state = run(original, *steps)
    with pytest.raises(IllegalTransition, match=match) as exc:
        transition(state, bad, {}, original_family=original)
    assert exc.value.reason is Reason.ILLEGAL_TRANSITION


def test_only_the_receiving_connector_answers_and_only_to_the_sender() -> None:
    conv = Conversation("m1", CLUE, "MIB@350582", "PSB@350500", State.DELIVERED)
    check_parties(conv, "PSB@350500", "MIB@350582")
    with pytest.raises(IllegalTransition, match="only PSB@350500"):
        check_parties(conv, "PSB@350582", "MIB@350582")  # addressed, but the city received it
    with pytest.raises(IllegalTransition, match="goes to its sender MIB@350582"):
        check_parties(conv, "PSB@350500", "MIB@350500")


def test_what_each_reply_fulfils() -> None:
    assert fulfils("receipt", {}) == ("receipt",)
    assert fulfils("acceptance", {"decision": "ACCEPTED"}) == ("acceptance",)
    assert fulfils("acceptance", {"decision": "RETURNED"}) == ("acceptance", "result")
    assert fulfils("feedback", {}) == ()
    assert fulfils("closure", {}) == ("result",)
    assert fulfils("invoice_verification_result", {}) == ("receipt", "result")
