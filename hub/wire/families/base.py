"""What the hub knows about one message family, in one object.

A :class:`Family` carries everything about its family that the stages above the wire need:
the payload schema and the rules Avro cannot check (router), whether it answers another message
(routing and lifecycle), which replies may follow which states and what a reply leads to
(``hub.lifecycle.states``), which obligation stages it opens or fulfils (``hub.sla``), the
ledger columns a reply fills (``hub.lifecycle.ledger``) and the payload facts the audit log may
keep (``hub.audit.events``, an allow-list: enums, ids, sums and counts, never names or free
text).  Adding a family is one module in this package plus its ``.avsc``.

States and obligation stages are named by their strings here ("RECEIVED", "result"): the wire
sits below the lifecycle and cannot import its enum, and the names are the contract anyway.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from hub.core.clock import iso_ms
from hub.wire.envelope import Envelope
from hub.wire.validators import check_credit_code, check_id_number, check_sha256

Payload = Mapping[str, Any]
Problems = list[str]
#: Keyed hash of a subject's identifying parts (``hub.audit.events.SubjectRef``).
SubjectHasher = Callable[..., str]


def _no_facts(payload: Payload, ref: SubjectHasher) -> dict[str, str]:
    return {}


def _no_result(payload: Payload) -> dict[str, Any]:
    return {}


def _fulfils_nothing(payload: Payload) -> tuple[str, ...]:
    return ()


#: The lifecycle of a hand-off that is signed for, accepted or returned, reported on and closed:
#: reply family → the states it may follow.
FULL_LIFECYCLE: Mapping[str, frozenset[str]] = {
    "receipt": frozenset({"DELIVERED"}),
    "acceptance": frozenset({"RECEIVED"}),
    "feedback": frozenset({"ACCEPTED", "IN_PROGRESS"}),
    "closure": frozenset({"ACCEPTED", "IN_PROGRESS"}),
}


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    #: Field rules Avro cannot check; returns problems naming fields, never their values.
    check: Callable[[Payload, Envelope], Problems]
    #: Where ``hub families`` lists it.
    order: int
    schema_stem: str = ""
    #: One of the domain's four hand-off families or their answer (docs/domain.md), as
    #: opposed to a lifecycle reply or a hub event: the SLA file may give it deadlines.
    business: bool = True
    #: Answers another message (correlation_id required); its legality is the ledger's
    #: question (``hub.lifecycle``), not policy.yaml's.
    is_reply: bool = False
    #: Raised by the hub itself (SLA events); a connector may not send it.
    hub_only: bool = False
    #: For an original: which reply families may answer it, and in which states.
    answered_by: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: For a reply: the state it moves its conversation to.
    next_state: Callable[[Payload], str] | None = None
    #: For a reply: the obligation stages it fulfils once applied.
    fulfils: Callable[[Payload], tuple[str, ...]] = _fulfils_nothing
    #: For a reply: the audit event kind it is logged as.
    audit_kind: Callable[[Payload], str] | None = None
    #: The ledger columns (台账 result) a reply fills in.
    ledger_result: Callable[[Payload], dict[str, Any]] = _no_result
    #: Must travel encrypted to the receiving connector (``hub.trust.e2e``): the router refuses
    #: it in clear.  Every original family may be encrypted; replies travel in clear, since
    #: the ledger reads them.
    encryption_required: bool = False
    #: The payload facts the audit log may keep.
    facts: Callable[[Payload, SubjectHasher], dict[str, str]] = _no_facts

    def __post_init__(self) -> None:
        if not self.schema_stem:
            object.__setattr__(self, "schema_stem", self.name)
        if self.is_reply and (self.next_state is None or self.audit_kind is None):
            raise ValueError(f"reply family {self.name} needs next_state and audit_kind")


# -- rule helpers --------------------------------------------------------------------------------


def nonblank(payload: Payload, *names: str) -> Problems:
    return [f"{n} must not be blank" for n in names if not str(payload.get(n) or "").strip()]


#: What a spreadsheet would read as a formula or a command (OWASP's CSV-injection list).
FORMULA_STARTS = ("=", "+", "-", "@")


def references(payload: Payload, *names: str) -> Problems:
    """Each named field, when present, is a reference an agency files a hand-off under (a clue
    id, a case number such as 晋公（刑）立字〔2024〕123号): 1–64 characters, none of them a
    control character (no tab or newline), not starting like a formula.  It is searched on,
    shown and written into workbooks, so what enters here is checked here."""
    out = []
    for n in names:
        value = payload.get(n)
        if value is None or value == "":
            continue
        text = str(value)
        if len(text) > 64 or not text.isprintable() or text != text.strip():
            out.append(f"{n}: must be 1-64 printable characters without spaces around them")
        elif text.startswith(FORMULA_STARTS):
            out.append(f"{n}: must not start with = + - or @")
    return out


def non_negative(payload: Payload, name: str = "amount_fen") -> Problems:
    value = payload.get(name)
    return [f"{name} must not be negative"] if value is not None and value < 0 else []


def hashes(items: list[dict[str, Any]], what: str) -> Problems:
    out = []
    for i, item in enumerate(items, start=1):
        problem = check_sha256(item["sha256"])
        if problem:
            out.append(f"{what} #{i}: {problem}")
    return out


def codes(prefix: str, credit_code: str | None, id_number: str | None) -> Problems:
    out = []
    if credit_code is not None and (p := check_credit_code(credit_code)):
        out.append(f"{prefix}.credit_code: {p}")
    if id_number is not None and (p := check_id_number(id_number)):
        out.append(f"{prefix}.id_number: {p}")
    return out


def no_problems(payload: Payload, env: Envelope) -> Problems:
    return []


# -- fact helpers ----------------------------------------------------------------------------------


class Facts(dict[str, str]):
    """An allow-list being filled: each value in its one text form; None is left out."""

    def put(self, name: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, datetime):
            self[name] = iso_ms(value)
        elif isinstance(value, date):
            self[name] = value.isoformat()
        elif isinstance(value, list | dict):
            self[name] = json.dumps(value, sort_keys=True, ensure_ascii=True)
        else:
            self[name] = str(value)

    def take(self, payload: Payload, *names: str) -> None:
        for name in names:
            self.put(name, payload.get(name))
