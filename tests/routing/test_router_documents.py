"""The router and a message's documents: its signed manifest is matched against the chunks seen
before it, and the message is delivered only when every document matches; hub-sig-v3 covers the
manifest, so nobody between sender and router can change it."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import replace

import pytest

from hub.core import merkle
from hub.routing.documents import Seen, SeenDocument
from hub.routing.router import ChunkAccepted, Delivered, DocumentPlaces, Rejected, Router
from hub.trust import e2e
from hub.trust.address import Address
from hub.wire import codec
from hub.wire.deadletter import Reason
from hub.wire.documents import (
    CHUNK_BYTES,
    CHUNK_PLAINTEXT,
    CHUNK_STEM,
    Chunk,
    DocumentRef,
    Sealing,
    SplitDocument,
)
from hub.wire.envelope import encode_envelope, read_envelope
from hub.wire.signing import SIG_V2, SIG_V3, SignedStructure
from tests.routing.test_router_decisions import World


@pytest.fixture(scope="module")
def world() -> World:
    return World()


#: Documents are always sealed to the recipient; any key will do for the router, which reads none.
SEALING = Sealing(e2e.EncryptionKey.generate().public, b"info")


def evidence(n: int = 1, size: int = 2 * CHUNK_PLAINTEXT + 10) -> tuple[DocumentRef, list[bytes]]:
    ref, chunks = evidence_chunks(n, size)
    return ref, [c.data for c in chunks]


def evidence_chunks(n: int = 1, size: int = 2 * CHUNK_PLAINTEXT + 10,
                    recipient: str = "PSB@350582") -> tuple[DocumentRef, list[Chunk]]:  # fmt: skip
    data = (b"%PDF-1.7\n" + os.urandom(size))[:size]
    doc = SplitDocument(io.BytesIO(data), size, n, message_id="m-docs", sender="MIB@350582",
                        recipient=recipient, name="线索材料.pdf", media_type="application/pdf",
                        sealing=SEALING)  # fmt: skip
    chunks = list(doc.chunks())
    return doc.ref, chunks


def at(ref: DocumentRef, seen: SeenDocument) -> Seen:
    return {(ref.n, ref.upload): seen}


PSB_DOCS = "hub.docs.PSB.350582"


def seen_of(
    chunks: list[bytes], *, topic: str = PSB_DOCS, conflicted: bool = False
) -> SeenDocument:
    root = merkle.RootBuilder()
    for c in chunks:
        root.add(merkle.leaf_hash(c))
    places = tuple((1, 40 + i) for i in range(len(chunks)))
    return SeenDocument(
        len(chunks), sum(len(c) for c in chunks), root.root(), conflicted, topic, places
    )


def router_seeing(world: World, seen: Seen) -> Router:
    return Router(world.registry, lambda: world.directory, world.policy,
                  chunks=lambda message_id, sender, tree: seen)  # fmt: skip


def decide(router: Router, raw: bytes) -> Delivered | Rejected:
    decision = router.decide(raw)
    assert isinstance(decision, Delivered | Rejected)
    return decision


def test_a_clue_whose_chunks_all_came_is_delivered_with_its_manifest(world: World) -> None:
    ref, chunks = evidence()
    env, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", message_id="m-docs",
                          documents=(ref,))  # fmt: skip
    assert env.signature_scheme == SIG_V3
    d = decide(router_seeing(world, at(ref, seen_of(chunks))), raw)
    assert isinstance(d, Delivered) and d.envelope.documents == (ref,)
    assert read_envelope(world.registry, raw).documents == (ref,)
    assert d.documents == (DocumentPlaces(1, PSB_DOCS, ((1, 40), (1, 41), (1, 42))),)


def test_only_the_upload_the_manifest_names_counts(world: World) -> None:
    """An earlier attempt under another key, or chunks a stranger wrote under the same message
    id, have another upload id: they neither complete nor spoil the signed one."""
    ref, chunks = evidence()
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", documents=(ref,))
    other = {(1, "f" * 32): seen_of(chunks)}
    d = decide(router_seeing(world, other), raw)
    assert isinstance(d, Rejected) and d.reason == Reason.MISSING_CHUNK
    both = {**other, **at(ref, seen_of(chunks))}
    assert isinstance(decide(router_seeing(world, both), raw), Delivered)


def test_chunks_copied_to_another_connectors_topic_are_not_named(world: World) -> None:
    ref, chunks = evidence()
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", documents=(ref,))
    elsewhere = at(ref, seen_of(chunks, topic="hub.docs.PSB.350500"))
    d = decide(router_seeing(world, elsewhere), raw)
    assert isinstance(d, Rejected) and d.reason == Reason.MISSING_CHUNK
    assert "another connector" in d.detail


def test_without_its_chunks_a_message_is_not_delivered(world: World) -> None:
    ref, chunks = evidence()
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", documents=(ref,))
    none = decide(world.router, raw)  # the default view: no chunk seen
    assert isinstance(none, Rejected) and none.reason == Reason.MISSING_CHUNK
    some = decide(router_seeing(world, at(ref, seen_of(chunks[:-1]))), raw)
    assert isinstance(some, Rejected) and some.reason == Reason.MISSING_CHUNK
    assert "2 of 3 chunks" in some.detail and "线索" not in some.detail


def test_chunks_other_than_those_signed_for_are_corrupt(world: World) -> None:
    ref, chunks = evidence()
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", documents=(ref,))
    swapped = [chunks[1], chunks[0], chunks[2]]
    for seen in (seen_of(swapped), seen_of(chunks, conflicted=True)):
        d = decide(router_seeing(world, at(ref, seen)), raw)
        assert isinstance(d, Rejected) and d.reason == Reason.CORRUPT_CHUNK


def test_a_manifest_changed_after_signing_fails_the_signature(world: World) -> None:
    ref, chunks = evidence()
    other, other_chunks = evidence()
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582", documents=(ref,))
    swapped = encode_envelope(world.registry, replace(env, documents=(other,)))
    d = decide(router_seeing(world, at(other, seen_of(other_chunks))), swapped)
    assert isinstance(d, Rejected) and d.reason == Reason.BAD_SIGNATURE
    downgraded = encode_envelope(world.registry, replace(env, signature_scheme=SIG_V2))
    d = decide(router_seeing(world, at(ref, seen_of(chunks))), downgraded)
    assert isinstance(d, Rejected) and d.reason == Reason.BAD_SIGNATURE


def test_documents_go_with_originals_feedback_and_closure_only_and_within_limits(
    world: World,
) -> None:
    ref, chunks = evidence()
    router = Router(
        world.registry,
        lambda: world.directory,
        world.policy,
        chunks=lambda m, s, t: at(ref, seen_of(chunks)),
        max_document_bytes=CHUNK_PLAINTEXT,
    )
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", documents=(ref,))
    big = decide(router, raw)
    assert isinstance(big, Rejected) and big.reason == Reason.DOCUMENT_TOO_LARGE
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582",
                        documents=(replace(ref, n=2),))  # fmt: skip
    misnumbered = decide(router_seeing(world, {(2, ref.upload): seen_of(chunks)}), raw)
    assert isinstance(misnumbered, Rejected) and misnumbered.reason == Reason.INVALID_DOCUMENT


def test_hub_sig_v3_is_hub_sig_v2_with_its_name_and_the_manifest_digest(world: World) -> None:
    """What docs/wire-format.md says, rebuilt from fields alone."""
    ref, _ = evidence()
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582", documents=(ref,))
    v3 = env.signing_bytes()
    fields = {k: getattr(env, k) for k in ("message_id", "family", "schema_version",
                                           "correlation_id", "causation_id", "created_at",
                                           "signing_key_id")}  # fmt: skip
    common = dict(**fields, sender=str(env.sender), recipient=str(env.recipient),
                  payload_sha256=hashlib.sha256(env.payload).hexdigest())  # fmt: skip
    v2 = SignedStructure(scheme=SIG_V2, **common).to_bytes()
    name = len(SIG_V2).to_bytes(4, "big")
    digest = env.manifest_sha256() or ""
    assert (
        v3
        == name
        + SIG_V3.encode()
        + v2[4 + len(SIG_V2) :]
        + len(digest).to_bytes(4, "big")
        + digest.encode()
    )
    key = world.keys[Address.parse("MIB@350582")]
    assert key.public.verify(env.signature, v3)


def chunk_record(world: World, chunk: Chunk) -> bytes:
    return codec.encode(world.registry.latest(CHUNK_STEM), chunk.to_record())


def test_a_chunk_is_kept_for_the_documents_topic_of_its_messages_route(world: World) -> None:
    _, chunks = evidence_chunks()
    d = world.router.decide(chunk_record(world, chunks[0]))
    assert isinstance(d, ChunkAccepted) and d.topic == PSB_DOCS and d.envelope is None
    assert d.chunk == chunks[0]
    _, fallback = evidence_chunks(recipient="PSB@350599")  # no connector: the city's
    d = world.router.decide(chunk_record(world, fallback[0]))
    assert isinstance(d, ChunkAccepted) and d.topic == f"hub.docs.PSB.{d.inbox.region}"


def test_a_chunk_out_of_shape_or_without_a_route_is_refused(world: World) -> None:
    _, chunks = evidence_chunks()
    c = chunks[0]
    cases = {
        Reason.INVALID_CHUNK: replace(c, data=b"x" * (CHUNK_BYTES + 1)),
        Reason.DOCUMENT_TOO_LARGE: replace(c, count=10_000),
        Reason.UNKNOWN_AGENCY: replace(c, recipient="nobody"),
    }
    for reason, chunk in cases.items():
        d = world.router.decide(chunk_record(world, chunk))
        assert isinstance(d, Rejected) and d.reason == reason, (reason, d)
        assert d.envelope is None
    invalid = world.router.decide(chunk_record(world, replace(c, upload="")))
    assert isinstance(invalid, Rejected) and invalid.reason == Reason.INVALID_CHUNK
