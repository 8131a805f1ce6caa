"""The router's decision for one ingress record, as a pure function of bytes, directory, policy
and the ledger's view of conversations.

ingress bytes → decode envelope → ids → known family → agencies and sender known → signature →
freshness →
policy (originals) → decode payload → payload rules → lifecycle (replies) → route.  The first
failing step names the dead-letter reason.  The Faust agent in ``hub.runtime.app`` only moves bytes
according to this decision.

Replies (receipt, acceptance, feedback, closure, invoice verification result) bypass
policy.yaml: whether one may be sent is a question of the conversation it answers, which the
ledger knows (``hub.lifecycle.states``), and it always goes back to the original's sender.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.core.text import shown
from hub.lifecycle.states import Conversation, IllegalTransition, State, check_parties, transition
from hub.routing.freshness import Freshness
from hub.routing.policy import Policy
from hub.routing.resolve import Route, resolve
from hub.trust.directory import Directory, DirectoryError, check_address
from hub.trust.keys import verify
from hub.wire import codec
from hub.wire.deadletter import Reason
from hub.wire.envelope import Envelope, read_envelope
from hub.wire.families import check_payload, family
from hub.wire.schemas import SchemaRegistry


@dataclass(frozen=True)
class Delivered:
    envelope: Envelope
    route: Route
    payload: dict[str, Any]
    #: For a reply: the conversation it answers and the state it moves it to.  ``new_state`` is
    #: None for a reply the ledger already applied (a redelivery, to be skipped as duplicate).
    conversation: Conversation | None = None
    new_state: State | None = None


@dataclass(frozen=True)
class Rejected:
    reason: Reason
    detail: str
    envelope: Envelope | None = None


Decision = Delivered | Rejected


def _no_conversations(message_id: str) -> Conversation | None:
    return None


def _nothing_applied(message_id: str) -> bool:
    return False


class Router:
    def __init__(
        self,
        registry: SchemaRegistry,
        directory: Callable[[], Directory],
        policy: Policy,
        conversations: Callable[[str], Conversation | None] = _no_conversations,
        reply_applied: Callable[[str], bool] = _nothing_applied,
        freshness: Freshness | None = None,
    ) -> None:
        self.freshness = freshness or Freshness()
        self.registry = registry
        self.directory = directory
        self.policy = policy
        #: The ledger's lookups, injected so the decision stays a function of its inputs.
        self.conversations = conversations
        self.reply_applied = reply_applied

    def decide(self, raw: bytes, at: datetime | None = None) -> Decision:
        """The decision for ``raw`` received at ``at`` (its freshness is judged against ``at``;
        None skips that check, for tests of the other rules on fixed, old envelopes)."""
        try:
            env = read_envelope(self.registry, raw)
        except codec.CodecError as exc:
            return Rejected(Reason(exc.reason), exc.detail)
        problems = env.id_problems()
        if problems:
            return Rejected(Reason.INVALID_ID, "; ".join(problems))
        fam = family(env.family)
        if fam is None:
            # No envelope attached: an unknown family name must not become a column value, a
            # log field or a metric label.  Checked before the signature for the same reason.
            return Rejected(
                Reason.UNKNOWN_FAMILY, f"unknown message family '{shown(env.family, 40)}'"
            )
        directory = self.directory()
        rejected = self._check_addresses(env, directory) or self._check_signature(env, directory)
        if rejected:
            return rejected
        if at is not None:
            late = self.freshness.problem(env.created_at, at)
            if late is not None:
                return Rejected(late[0], late[1], env)
        if fam.hub_only:
            return Rejected(
                Reason.POLICY_VIOLATION, f"{fam.name} is raised by the hub, not by connectors", env
            )
        if not fam.is_reply:
            violation = self.policy.violation(env.family, env.sender, env.recipient)
            if violation:
                return Rejected(Reason.POLICY_VIOLATION, violation, env)
        if env.encryption is not None:
            # The signature does not cover the encryption header yet (hub-sig-v1), and the
            # router could not check an encrypted payload: refuse rather than wave it through.
            return Rejected(
                Reason.UNSUPPORTED_ENCRYPTION,
                "encrypted payloads are not supported by this hub version",
                env,
            )
        try:
            writer, payload = codec.decode(self.registry, env.payload)
        except codec.CodecError as exc:
            return Rejected(Reason(exc.reason), f"payload: {exc.detail}", env)
        if writer.stem != fam.schema_stem or writer.version != env.schema_version:
            return Rejected(
                Reason.SCHEMA_MISMATCH,
                f"family {fam.name} with schema_version {env.schema_version} needs "
                f"{fam.schema_stem}.v{env.schema_version}, payload is {writer.label}",
                env,
            )
        problems = check_payload(fam, payload, env)
        if problems:
            return Rejected(Reason.INVALID_PAYLOAD, "; ".join(problems), env)
        if fam.is_reply:
            return self._decide_reply(env, payload, directory)
        route = resolve(directory, env.recipient)
        if route is None:
            return Rejected(
                Reason.NO_ROUTE, f"no connector for {env.recipient} nor at any level above it", env
            )
        return Delivered(env, route, payload)

    def _decide_reply(
        self, env: Envelope, payload: dict[str, Any], directory: Directory
    ) -> Decision:
        if not env.correlation_id:
            return Rejected(
                Reason.INVALID_PAYLOAD,
                f"{env.family} answers a message: correlation_id is required",
                env,
            )
        conv = self.conversations(env.correlation_id)
        if conv is None:
            return Rejected(
                Reason.UNKNOWN_CONVERSATION,
                f"{env.family} answers {env.correlation_id}, which the hub never delivered",
                env,
            )
        new_state: State | None = None
        try:
            # Parties first, always: a reply id already applied must not let another party in.
            check_parties(conv, str(env.sender), str(env.recipient))
            if not self.reply_applied(env.message_id):
                new_state = transition(conv.state, env.family, payload, original_family=conv.family)
        except IllegalTransition as exc:
            return Rejected(exc.reason, exc.detail, env)
        route = resolve(directory, env.recipient)
        if route is None:
            return Rejected(Reason.NO_ROUTE, f"{env.recipient} has no connector any more", env)
        return Delivered(env, route, payload, conv, new_state)

    @staticmethod
    def _check_addresses(env: Envelope, directory: Directory) -> Rejected | None:
        for role, address in (("sender", env.sender), ("recipient", env.recipient)):
            try:
                check_address(address)
            except DirectoryError as exc:
                # No envelope attached: its addresses are not fit to be stored, logged or labelled.
                return Rejected(Reason.UNKNOWN_AGENCY, f"{role}: {exc}")
        if not directory.has(env.sender):
            return Rejected(Reason.UNKNOWN_SENDER, f"sender {env.sender} is not registered", env)
        return None

    @staticmethod
    def _check_signature(env: Envelope, directory: Directory) -> Rejected | None:
        owner = directory.key_owner(env.signing_key_id)
        if owner is None:
            return Rejected(Reason.BAD_SIGNATURE, f"unknown signing key {env.signing_key_id}", env)
        address, entry = owner
        if address != env.sender:
            return Rejected(
                Reason.BAD_SIGNATURE,
                f"key {env.signing_key_id} belongs to {address}, not to sender {env.sender}",
                env,
            )
        if entry.status == "revoked":
            return Rejected(Reason.BAD_SIGNATURE, f"key {env.signing_key_id} is revoked", env)
        public = directory.public_key(env.signing_key_id)
        if public is None or not verify(public, env.signature, env.signing_bytes()):
            return Rejected(Reason.BAD_SIGNATURE, "signature does not match the envelope", env)
        return None
