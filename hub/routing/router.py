"""The router's decision for one ingress record, as a pure function of bytes, directory, policy
and the ledger's view of conversations.

ingress bytes → decode envelope → ids → known family → agencies and sender known → signature →
freshness →
policy (originals) → decode payload → payload rules → lifecycle (replies) → route.  The first
failing step names the dead-letter reason.  The ingress loop in ``hub.runtime.ingress`` only moves
bytes according to this decision.

Replies (receipt, acceptance, feedback, closure, invoice verification result) bypass
policy.yaml: whether one may be sent is a question of the conversation it answers, which the
ledger knows (``hub.lifecycle.states``), and it always goes back to the original's sender.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hub.core.text import shown
from hub.lifecycle.states import Conversation, IllegalTransition, State, check_parties, transition
from hub.routing.documents import Seen, document_problem, places_problem
from hub.routing.freshness import Freshness
from hub.routing.policy import Policy
from hub.routing.resolve import Route, resolve
from hub.trust import e2e, suites
from hub.trust.address import Address
from hub.trust.directory import Directory, DirectoryError, check_address
from hub.trust.keys import verify
from hub.wire import codec
from hub.wire.deadletter import Reason
from hub.wire.documents import CHUNK_STEM, MAX_DOCUMENT_BYTES, Chunk
from hub.wire.envelope import Envelope, read_envelope
from hub.wire.families import Family, check_payload, family
from hub.wire.schemas import SchemaRegistry
from hub.wire.signing import SIG_SM2, SIG_V2, SIG_V3, scheme_suite
from hub.wire.topics import docs_topic


@dataclass(frozen=True)
class DocumentPlaces:
    """Where one document's chunks lie on the recipient's documents topic, in order."""

    n: int
    topic: str
    places: tuple[tuple[int, int], ...]  # (partition, offset) per chunk


@dataclass(frozen=True)
class Delivered:
    envelope: Envelope
    route: Route
    payload: dict[str, Any]
    #: For a reply: the conversation it answers and the state it moves it to.  ``new_state`` is
    #: None for a reply the ledger already applied (a redelivery, to be skipped as duplicate).
    conversation: Conversation | None = None
    new_state: State | None = None
    #: Where the documents' checked chunks lie, named to the recipient with the delivery.
    documents: tuple[DocumentPlaces, ...] = ()


@dataclass(frozen=True)
class ChunkAccepted:
    """A document chunk fit to keep: copied to ``topic`` (the documents topic of ``inbox``, the
    connector its message would be delivered to) and recorded.  Chunks are not signed: whether
    they are the ones the sender meant is decided on their envelope, by its signed manifest."""

    chunk: Chunk
    inbox: Address
    topic: str
    #: No envelope: a chunk's ids and addresses are unauthenticated until its envelope comes.
    envelope: None = None


@dataclass(frozen=True)
class Rejected:
    reason: Reason
    detail: str
    envelope: Envelope | None = None


Decision = Delivered | Rejected | ChunkAccepted


def _no_conversations(message_id: str) -> Conversation | None:
    return None


def _nothing_applied(message_id: str) -> bool:
    return False


def _no_chunks(message_id: str, sender: str, tree: str = "sha256") -> Seen:
    return {}


class Router:
    def __init__(
        self,
        registry: SchemaRegistry,
        directory: Callable[[], Directory],
        policy: Policy,
        conversations: Callable[[str], Conversation | None] = _no_conversations,
        reply_applied: Callable[[str], bool] = _nothing_applied,
        freshness: Freshness | None = None,
        schemes: frozenset[str] = frozenset({SIG_V2, SIG_V3, SIG_SM2}),
        chunks: Callable[[str, str, str], Seen] = _no_chunks,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
    ) -> None:
        self.freshness = freshness or Freshness()
        #: Signature schemes accepted on new messages (hub-sig-v1 only during a migration).
        self.schemes = schemes
        self.registry = registry
        self.directory = directory
        self.policy = policy
        #: The ledger's lookups, injected so the decision stays a function of its inputs.
        self.conversations = conversations
        self.reply_applied = reply_applied
        #: What the router saw of a message's chunks (message id, sender), for its manifest.
        self.chunks = chunks
        self.max_document_bytes = max_document_bytes

    def decide(self, raw: bytes, at: datetime | None = None) -> Decision:
        """The decision for ``raw`` received at ``at`` (its freshness is judged against ``at``;
        None skips that check, for tests of the other rules on fixed, old envelopes)."""
        try:
            if codec.writer_of(self.registry, raw).stem == CHUNK_STEM:
                return self._decide_chunk(raw)
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
        used = [scheme_suite(env.signature_scheme).name]
        if env.encryption is not None:
            sealed_by = suites.by_scheme(str(env.encryption.get("scheme")))
            used += [sealed_by.name] if sealed_by else []
        forbidden = self.policy.suite_violation(env.family, env.sender, env.recipient, used)
        if forbidden:
            return Rejected(Reason.SUITE_FORBIDDEN, forbidden, env)
        if not env.documents:
            return self._decide_content(env, fam, directory)
        seen = self.chunks(env.message_id, str(env.sender),
                           scheme_suite(env.signature_scheme).hash_name)  # fmt: skip
        problem = document_problem(
            env, is_reply=fam.is_reply, seen=seen, max_document_bytes=self.max_document_bytes
        )
        if problem is not None:
            return Rejected(problem[0], problem[1], env)
        decision = self._decide_content(env, fam, directory)
        if not isinstance(decision, Delivered):
            return decision
        topic = docs_topic(decision.route.inbox.agency, decision.route.inbox.region)
        moved = places_problem(env, seen, topic)
        if moved is not None:
            return Rejected(Reason.MISSING_CHUNK, f"{moved}; send the message again", env)
        places = tuple(
            DocumentPlaces(d.n, topic, seen[(d.n, d.upload)].places) for d in env.documents
        )
        return replace(decision, documents=places)

    def _decide_chunk(self, raw: bytes) -> Decision:
        """A chunk on its own: its shape, its limit and where its message would go."""
        _, record = codec.decode(self.registry, raw)
        chunk = Chunk.from_record(record)
        problem = chunk.problem(self.max_document_bytes)
        if problem is not None:
            too_large = problem.reason == Reason.DOCUMENT_TOO_LARGE.value
            return Rejected(
                Reason.DOCUMENT_TOO_LARGE if too_large else Reason.INVALID_CHUNK, str(problem)
            )
        try:
            recipient = Address.parse(chunk.recipient)
            check_address(recipient)
        except (DirectoryError, ValueError):
            return Rejected(Reason.UNKNOWN_AGENCY, "chunk: recipient is not an agency address")
        route = resolve(self.directory(), recipient)
        if route is None:
            return Rejected(Reason.NO_ROUTE, "chunk: no connector for its recipient nor above it")
        topic = docs_topic(route.inbox.agency, route.inbox.region)
        return ChunkAccepted(chunk, route.inbox, topic)

    def _decide_content(self, env: Envelope, fam: Family, directory: Directory) -> Decision:
        """Encryption, payload, lifecycle and route: the steps after signature and policy."""
        if env.encryption is not None:
            return self._decide_encrypted(env, fam, directory)
        if fam.encryption_required:
            return Rejected(
                Reason.POLICY_VIOLATION,
                f"{fam.name} must be encrypted to the receiving connector's key (hub.trust.e2e)",
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

    @staticmethod
    def _decide_encrypted(env: Envelope, fam: Family, directory: Directory) -> Decision:
        """What the router can check of an encrypted payload: that it is for the connector the
        message will be delivered to.  The sender's signature (hub-sig-v2, checked above) covers
        the header and the ciphertext; the recipient's connector decrypts and validates.

        Encryption is to the *receiving* connector, the one ``resolve`` finds (on a fallback,
        the supervising level's), because only it will hold the message: the sender resolves
        the route from the same directory before encrypting.
        """
        header = env.encryption or {}
        if fam.is_reply:
            return Rejected(
                Reason.UNSUPPORTED_ENCRYPTION,
                f"{fam.name} answers a hand-off and travels in clear: the ledger reads it",
                env,
            )
        if header.get("scheme") not in e2e.SCHEMES:
            return Rejected(
                Reason.UNSUPPORTED_ENCRYPTION,
                f"unknown encryption scheme {shown(str(header.get('scheme')), 40)}; "
                f"this hub carries {', '.join(sorted(e2e.SCHEMES))}",
                env,
            )
        route = resolve(directory, env.recipient)
        if route is None:
            return Rejected(
                Reason.NO_ROUTE, f"no connector for {env.recipient} nor at any level above it", env
            )
        key_id = str(header.get("recipient_key_id", ""))
        owner = directory.encryption_key_owner(key_id)
        receiving = directory.connectors[route.inbox].encryption_key()
        # A retired key is still accepted: a message may have been sealed just before a rotation,
        # and the receiving connector keeps the private half.  A revoked one is not.
        scheme_of_key = suites.by_key_id(key_id).encryption_scheme if owner else None
        if (
            owner is None
            or owner[0] != route.inbox
            or owner[1].status == "revoked"
            or header.get("scheme") != scheme_of_key
        ):
            expected = receiving.key_id if receiving else "none registered"
            return Rejected(
                Reason.ENCRYPTION_MISMATCH,
                f"encrypted for key {shown(key_id, 40)}; the message goes to {route.inbox}, "
                f"whose active encryption key is {expected}",
                env,
            )
        return Delivered(env, route, {})

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

    def _check_signature(self, env: Envelope, directory: Directory) -> Rejected | None:
        if env.signature_scheme not in self.schemes:
            return Rejected(
                Reason.BAD_SIGNATURE,
                f"signature scheme {shown(env.signature_scheme, 20)} is not accepted here "
                f"(accepted: {', '.join(sorted(self.schemes))}); sign with hub-sig-v2 (v3 with "
                "documents)",
                env,
            )
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
        try:
            signed = env.signing_bytes()
        except ValueError:  # a scheme this hub does not know, or v1 over an encryption header
            return Rejected(
                Reason.BAD_SIGNATURE, "signature scheme unknown or unfit for this envelope", env
            )
        if public is None or not verify(public, env.signature, signed):
            return Rejected(Reason.BAD_SIGNATURE, "signature does not match the envelope", env)
        return None
