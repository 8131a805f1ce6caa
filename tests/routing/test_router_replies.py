"""The router's decision for replies, given the ledger's view as a plain function (no broker)."""

from __future__ import annotations

from hub.core.paths import PACKAGE_DATA, PROJECT_ROOT
from hub.lifecycle.states import Conversation, State
from hub.routing.policy import load_policy
from hub.routing.router import Delivered, Rejected, Router
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.wire.deadletter import Reason
from hub.wire.envelope import now_utc, seal
from hub.wire.families import FAMILIES
from hub.wire.schemas import SchemaRegistry

REGISTRY = SchemaRegistry.load(PROJECT_ROOT / "schemas" / "avro")
KEYS = {a: SigningKey.generate() for a in ("MIB@350582", "PSB@350582", "PSB@350500")}
DIRECTORY = Directory()
for _a, _k in KEYS.items():
    DIRECTORY = DIRECTORY.with_key(Address.parse(_a), _k)
POLICY = load_policy(PACKAGE_DATA / "policy.yaml", set(FAMILIES))
ORIGINAL = Conversation("orig-1", "clue_transfer", "MIB@350582", "PSB@350582", State.DELIVERED)


def router(applied: set[str] | None = None) -> Router:
    return Router(
        REGISTRY,
        lambda: DIRECTORY,
        POLICY,
        lambda mid: ORIGINAL if mid == ORIGINAL.message_id else None,
        lambda mid: mid in (applied or set()),
    )


def receipt(sender: str, recipient: str, correlation_id: str, message_id: str | None = None):
    _, raw = seal(
        REGISTRY,
        family="receipt",
        payload_schema=REGISTRY.latest("receipt"),
        payload={"received_at": now_utc(), "received_by": None, "note": None},
        sender=Address.parse(sender),
        recipient=Address.parse(recipient),
        key=KEYS[sender],
        correlation_id=correlation_id,
        message_id=message_id,
    )
    return raw


def test_a_receipt_goes_back_to_the_sender_and_moves_the_state() -> None:
    d = router().decide(receipt("PSB@350582", "MIB@350582", "orig-1"))
    assert isinstance(d, Delivered)
    assert d.route.inbox == Address("MIB", "350582")
    assert d.conversation == ORIGINAL and d.new_state is State.RECEIVED


def test_replies_bypass_the_policy_but_not_the_ledger() -> None:
    # No policy rule lets PSB send anything to MIB@350500: the ledger's parties decide.
    d = router().decide(receipt("PSB@350582", "MIB@350500", "orig-1"))
    assert isinstance(d, Rejected) and d.reason is Reason.ILLEGAL_TRANSITION
    d = router().decide(receipt("PSB@350500", "MIB@350582", "orig-1"))
    assert isinstance(d, Rejected) and d.reason is Reason.ILLEGAL_TRANSITION
    d = router().decide(receipt("PSB@350582", "MIB@350582", "nothing"))
    assert isinstance(d, Rejected) and d.reason is Reason.UNKNOWN_CONVERSATION


def test_a_reply_already_applied_is_delivered_without_a_transition() -> None:
    d = router({"r-1"}).decide(receipt("PSB@350582", "MIB@350582", "orig-1", "r-1"))
    assert isinstance(d, Delivered) and d.new_state is None


def test_connectors_may_not_raise_sla_events() -> None:
    _, raw = seal(
        REGISTRY,
        family="sla_event",
        payload_schema=REGISTRY.latest("sla_event"),
        payload={
            "event_id": "x:receipt:BREACH",
            "kind": "BREACH",
            "stage": "receipt",
            "message_id": "x",
            "family": "clue_transfer",
            "debtor": "PSB@350582",
            "creditor": "MIB@350582",
            "due_at": now_utc(),
            "fired_at": now_utc(),
            "escalated_to": [],
            "risk_level": None,
        },
        sender=Address.parse("MIB@350582"),
        recipient=Address.parse("PSB@350582"),
        key=KEYS["MIB@350582"],
    )
    d = router().decide(raw)
    assert isinstance(d, Rejected) and d.reason is Reason.POLICY_VIOLATION
