"""Documents through the ingress pipeline: chunks ahead of their envelope on hub.ingress are
kept on the recipient's documents topic and recorded, and the envelope is delivered, naming
where they lie, only when every chunk is there and is the one signed for; otherwise it is a
dead letter and nothing of it reaches the inbox.  Both the batched and the single path.

Uses the rig of ``test_ingress_pipeline`` (an in-memory producer, a SQLite store).
"""

from __future__ import annotations

import asyncio
import io
import os
from dataclasses import replace

import pytest

from hub.runtime.ingress.batch import BatchPipeline
from hub.runtime.ingress.chunks import CHUNK_KEPT
from hub.runtime.ingress.pipeline import DEAD_LETTERED, DELIVERED, DUPLICATE, Outcome
from hub.runtime.ingress.record import IngressRecord
from hub.trust import e2e
from hub.trust.address import Address
from hub.wire import codec, headers
from hub.wire.chunk_places import ChunkPlaces
from hub.wire.documents import (
    CHUNK_PLAINTEXT,
    CHUNK_STEM,
    Chunk,
    DocumentAssembler,
    DocumentRef,
    Sealing,
    SplitDocument,
)
from hub.wire.envelope import read_envelope
from hub.wire.topics import DEAD_LETTER, docs_topic, inbox_topic
from tests.runtime.test_ingress_pipeline import Rig

PSB_INBOX = inbox_topic("PSB", "350582")
PSB_DOCS = docs_topic("PSB", "350582")
SIZE = 2 * CHUNK_PLAINTEXT + 1000
#: The recipient's key: every document is sealed to it (a clear one is refused, tested below).
PSB_KEY = e2e.EncryptionKey.generate()
INFO = b"info"


def psb_opener(sealed: bytes) -> bytes:
    return e2e.open_descriptor(sealed, PSB_KEY, e2e.document_info(INFO, 1))


def split(
    rig: Rig, mid: str, data: bytes, sealing: Sealing | None = None
) -> tuple[DocumentRef, list[Chunk]]:
    doc = SplitDocument(io.BytesIO(data), len(data), 1, message_id=mid, sender="MIB@350582",
                        recipient="PSB@350582", name="病历.pdf", media_type="application/pdf",
                        sealing=sealing or Sealing(PSB_KEY.public, INFO))  # fmt: skip
    chunks = list(doc.chunks())
    return doc.ref, chunks


def pdf(size: int = SIZE) -> bytes:
    return (b"%PDF-1.7\n" + os.urandom(size))[:size]


def chunk_bytes(rig: Rig, chunk: Chunk) -> bytes:
    return codec.encode(rig.services.registry.latest(CHUNK_STEM), chunk.to_record())


def with_evidence(rig: Rig, mid: str = "m-evidence-1") -> tuple[bytes, list[bytes], bytes]:
    """(the document, its chunk records, the clue's envelope)."""
    data = pdf()
    ref, chunks = split(rig, mid, data)
    _, raw = rig.message(message_id=mid, documents=(ref,))
    return data, [chunk_bytes(rig, c) for c in chunks], raw


def batch(rig: Rig, raws: list[bytes | IngressRecord]) -> list[Outcome]:
    records = [r if isinstance(r, IngressRecord) else rig.record(r) for r in raws]
    return asyncio.run(BatchPipeline(rig.pipeline).process(records))


def one_by_one(rig: Rig, raws: list[bytes | IngressRecord]) -> list[Outcome]:
    records = [r if isinstance(r, IngressRecord) else rig.record(r) for r in raws]
    return [asyncio.run(rig.pipeline.process(r)) for r in records]


def received(rig: Rig, inbox_index: int = 0, open_descriptor=psb_opener) -> bytes:  # type: ignore[no-untyped-def]
    """What the recipient's connector would put together from its inbox record's header."""
    record = rig.producer.on(PSB_INBOX)[inbox_index]
    header = dict(record.headers)[headers.CHUNKS]
    places = ChunkPlaces.from_header(header)
    assert places.topic == PSB_DOCS
    on_topic = {(s.partition, s.offset): s.value for s in rig.producer.on(PSB_DOCS)}
    env = read_envelope(rig.services.registry, record.value)
    out = io.BytesIO()
    asm = DocumentAssembler(env.documents[0], message_id=env.message_id, sender=str(env.sender),
                            recipient=str(env.recipient), out=out,
                            open_descriptor=open_descriptor)  # fmt: skip
    for place in places.documents[1]:
        _, fields = codec.decode(rig.services.registry, on_topic[place])
        asm.add(Chunk.from_record(fields))
    asm.finish()
    return out.getvalue()


@pytest.mark.parametrize("path", [batch, one_by_one], ids=["batched", "single"])
def test_a_clue_with_its_chunks_ahead_is_delivered_and_names_where_they_lie(rig: Rig, path) -> None:  # type: ignore[no-untyped-def]
    data, chunks, raw = with_evidence(rig)
    outcomes = path(rig, [*chunks, raw])
    assert [o.kind for o in outcomes] == [CHUNK_KEPT] * 3 + [DELIVERED]
    assert len(rig.producer.on(PSB_DOCS)) == 3
    assert received(rig) == data
    # chunks have no audit events of their own; the message has its usual ones
    assert rig.audit_kinds().count("submitted") == 1


@pytest.mark.parametrize("path", [batch, one_by_one], ids=["batched", "single"])
def test_a_missing_chunk_dead_letters_the_message_and_nothing_reaches_the_inbox(
    rig: Rig, path
) -> None:  # type: ignore[no-untyped-def]
    _, chunks, raw = with_evidence(rig)
    outcomes = path(rig, [chunks[0], chunks[2], raw])
    assert [o.kind for o in outcomes] == [CHUNK_KEPT, CHUNK_KEPT, DEAD_LETTERED]
    assert outcomes[-1].reason == "missing_chunk"
    assert rig.producer.on(PSB_INBOX) == []
    assert not rig.delivered("m-evidence-1")


def test_a_chunk_corrupted_on_the_way_dead_letters_the_message(rig: Rig) -> None:
    _, chunks, raw = with_evidence(rig)
    fields = codec.decode(rig.services.registry, chunks[1])[1]
    fields["data"] = bytes([fields["data"][0] ^ 1]) + fields["data"][1:]
    bad = chunk_bytes(rig, Chunk.from_record(fields))
    outcomes = batch(rig, [chunks[0], bad, chunks[2], raw])
    assert outcomes[-1].kind == DEAD_LETTERED and outcomes[-1].reason == "corrupt_chunk"
    assert rig.producer.on(PSB_INBOX) == []
    dl = rig.read_dead_letter(rig.producer.on(DEAD_LETTER.name)[0].value)
    assert dl["message_id"] == "m-evidence-1" and "病历" not in dl["detail"]


def test_repeated_and_reordered_chunks_are_recognised(rig: Rig) -> None:
    data, chunks, raw = with_evidence(rig)
    outcomes = batch(rig, [chunks[1], chunks[0], chunks[1], chunks[2], raw, chunks[0]])
    assert [o.kind for o in outcomes] == [
        CHUNK_KEPT, CHUNK_KEPT, DUPLICATE, CHUNK_KEPT, DELIVERED, DUPLICATE,
    ]  # fmt: skip
    assert len(rig.producer.on(PSB_DOCS)) == 3
    assert received(rig) == data
    again = batch(rig, [*chunks, raw])  # the whole of it read again after a crash
    assert [o.kind for o in again] == [DUPLICATE] * 4


def test_other_bytes_for_a_place_taken_are_refused_and_spoil_the_document(rig: Rig) -> None:
    _, chunks, raw = with_evidence(rig)
    fields = codec.decode(rig.services.registry, chunks[0])[1]
    other = chunk_bytes(rig, replace(Chunk.from_record(fields), data=b"%PDF-other"))
    outcomes = batch(rig, [*chunks, other, raw])
    assert [(o.kind, o.reason) for o in outcomes[3:]] == [
        (DEAD_LETTERED, "invalid_chunk"),
        (DEAD_LETTERED, "corrupt_chunk"),
    ]


def test_an_earlier_upload_under_another_key_does_not_mix_in(rig: Rig) -> None:
    """The sender's first attempt died half-way; the second draws a new key and upload id."""
    key = e2e.EncryptionKey.generate()
    data = pdf()
    sealing = Sealing(key.public, b"info")
    _, first = split(rig, "m-evidence-2", data, sealing)
    ref, second = split(rig, "m-evidence-2", data, sealing)
    _, raw = rig.message(message_id="m-evidence-2", documents=(ref,))
    records = [chunk_bytes(rig, c) for c in first[:2] + second]
    outcomes = batch(rig, [*records, raw])
    assert outcomes[-1].kind == DELIVERED
    opener = lambda sealed: e2e.open_descriptor(sealed, key, e2e.document_info(b"info", 1))  # noqa: E731
    assert received(rig, open_descriptor=opener) == data


def test_chunks_go_to_the_documents_topic_of_the_connector_that_receives(rig: Rig) -> None:
    """PSB@350521 has no connector: its messages, and their chunks, go to the city's."""
    data = pdf(1000)
    doc = SplitDocument(io.BytesIO(data), len(data), 1, message_id="m-evidence-3",
                        sender="MIB@350582", recipient="PSB@350521", name="a.pdf",
                        media_type="application/pdf",
                        sealing=Sealing(PSB_KEY.public, INFO))  # fmt: skip
    chunks = [chunk_bytes(rig, c) for c in doc.chunks()]
    _, raw = rig.message(to="PSB@350521", message_id="m-evidence-3", documents=(doc.ref,))
    outcomes = batch(rig, [*chunks, raw])
    assert [o.kind for o in outcomes] == [CHUNK_KEPT, DELIVERED]
    inbox = rig.producer.on("hub.inbox.")[0]
    places = ChunkPlaces.from_header(dict(inbox.headers)[headers.CHUNKS])
    assert places.topic == inbox.topic.replace("hub.inbox.", "hub.docs.")
    assert Address.parse(dict(inbox.headers)[headers.ROUTED_TO].decode()).region != "350521"


def test_records_stay_in_one_outcome_each_when_the_documents_topic_fails(rig: Rig) -> None:
    data, chunks, raw = with_evidence(rig)
    rig.producer.fail("hub.docs.", ConnectionError("broker away"), times=2)
    rig.pipeline.sleep = _no_sleep
    outcomes = batch(rig, [*chunks, raw])
    assert [o.kind for o in outcomes] == [CHUNK_KEPT] * 3 + [DELIVERED]
    assert received(rig) == data


async def _no_sleep(_: float) -> None:
    return None


def test_the_header_round_trips_runs_of_places() -> None:
    places = ChunkPlaces("hub.docs.PSB.350582", {1: ((0, 5), (0, 6), (0, 7), (2, 1)), 2: ()})
    header = places.to_header()
    assert b"[0,5,3]" in header
    assert ChunkPlaces.from_header(header) == places


MIB_INBOX = inbox_topic("MIB", "350582")


@pytest.mark.parametrize("path", [batch, one_by_one], ids=["batched", "single"])
def test_a_message_refused_for_its_documents_is_returned_to_its_sender_signed(
    rig: Rig, path
) -> None:  # type: ignore[no-untyped-def]
    _, chunks, raw = with_evidence(rig)
    envelope = rig.record(raw)
    outcomes = path(rig, [chunks[0], envelope])
    dl_id = outcomes[-1].dead_letter_id
    returned = rig.producer.on(MIB_INBOX)
    assert len(returned) == 1
    env = read_envelope(rig.services.registry, returned[0].value)
    assert env.family == "delivery_refused" and str(env.sender) == "HUB@100000"
    assert env.correlation_id == "m-evidence-1" and env.message_id == f"ret-{dl_id}"
    assert verify_as_sender(rig, env)
    _, payload = codec.decode(rig.services.registry, env.payload)
    assert payload["reason"] == "missing_chunk" and payload["dead_letter_id"] == dl_id
    assert "1 of 3 chunks" in payload["detail"] and "病历" not in payload["detail"]
    path(rig, [envelope])  # read again after a crash: the same return, which connectors skip
    ids = {
        read_envelope(rig.services.registry, r.value).message_id for r in rig.producer.on(MIB_INBOX)
    }
    assert ids == {f"ret-{dl_id}"}


def test_other_dead_letters_and_forged_envelopes_are_not_returned(rig: Rig) -> None:
    _, policy = rig.message(sender="HEALTH@350582", to="PSB@350582")
    _, _, raw = with_evidence(rig)
    forged = raw[:-10] + bytes(10)  # the signature broken: the sender is not proven
    outcomes = batch(rig, [policy, forged])
    assert [o.reason for o in outcomes] == ["policy_violation", "bad_signature"]
    assert rig.producer.on("hub.inbox.") == []


def verify_as_sender(rig: Rig, env) -> bool:  # type: ignore[no-untyped-def]
    from hub.trust.keys import verify

    directory = rig.services.directory.current
    owner = directory.key_owner(env.signing_key_id)
    public = directory.public_key(env.signing_key_id)
    assert owner is not None and str(owner[0]) == "HUB@100000" and public is not None
    return verify(public, env.signature, env.signing_bytes())


def test_a_document_in_clear_is_refused_and_none_of_its_chunks_reaches_a_documents_topic(
    rig: Rig,
) -> None:
    """Issue 30.2: the hub never needs to read a document, so it carries none it could read."""
    data = pdf()
    doc = SplitDocument(io.BytesIO(data), len(data), 1, message_id="m-clear", sender="MIB@350582",
                        recipient="PSB@350582", name="病历.pdf", media_type="application/pdf",
                        sealing=None)  # fmt: skip
    chunks = [chunk_bytes(rig, c) for c in doc.chunks()]
    _, raw = rig.message(message_id="m-clear", documents=(doc.ref,))
    outcomes = batch(rig, [*chunks, raw])
    assert (outcomes[-1].kind, outcomes[-1].reason) == (DEAD_LETTERED, "document_in_clear")
    assert rig.producer.on(PSB_INBOX) == []
