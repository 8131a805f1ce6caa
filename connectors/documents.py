"""Documents on the connector's side: chunks out before the envelope, chunks in after it.

Sending (:func:`publish_documents`): each file is read a chunk at a time (``SplitDocument``), sealed
for the receiving connector (always, whatever the payload), and published to ``hub.ingress`` with
the envelope's Kafka key, so the router meets every chunk before the envelope; the envelope's signed
manifest is made from what was sent.  Receiving (:func:`fetch_documents`): the inbox record's
``hub-chunks`` header says where the chunks lie on this connector's documents topic; they are read
there a chunk at a time, checked against the signed manifest (count, RFC 9162 root, size, SHA-256,
media type) and written to a folder.  A document that does not check out is never handed over.
Memory stays at a few chunks whatever the document's size.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from hub.trust import e2e
from hub.trust.e2e import EncryptionKey
from hub.trust.suites import INTL, Suite
from hub.wire import codec
from hub.wire.chunk_places import ChunkPlaces
from hub.wire.documents import (
    Chunk,
    Descriptor,
    DocumentAssembler,
    DocumentError,
    DocumentRef,
    Sealing,
    SplitDocument,
)
from hub.wire.envelope import Envelope
from hub.wire.schemas import SchemaRegistry
from hub.wire.signing import scheme_suite
from hub.wire.topics import INGRESS

#: Media types by file extension, for a document given as a bare path.
EXTENSIONS = {
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".gif": "image/gif",
    ".zip": "application/zip",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".doc": "application/msword",
    ".ofd": "application/ofd",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
}
#: How long reading a document's chunks may go without progress before it is given up.
CHUNK_WAIT_S = 60.0


@dataclass(frozen=True)
class DocumentFile:
    """A file to send: its path, the name the recipient sees, its media type."""

    path: Path
    name: str
    media_type: str
    #: The file already open, read instead of opening ``path`` again (the outbox relay opens a
    #: confined path once, so the file cannot be swapped between its check and its reading).
    opened: BinaryIO | None = field(default=None, compare=False, repr=False)

    def size(self) -> int:
        if self.opened is not None:
            return os.fstat(self.opened.fileno()).st_size
        return self.path.stat().st_size

    def open(self) -> BinaryIO:
        return self.opened if self.opened is not None else self.path.open("rb")

    @classmethod
    def of(cls, item: str | os.PathLike[str] | DocumentFile) -> DocumentFile:
        if isinstance(item, DocumentFile):
            return item
        path = Path(item)
        guessed = EXTENSIONS.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
        if guessed is None:
            raise DocumentError(
                f"cannot tell the media type of a {path.suffix or 'nameless'} file; give it "
                "(DocumentFile(path, name, media_type))",
                reason="invalid_document",
            )
        return cls(path, path.name, guessed)


@dataclass(frozen=True)
class ReceivedDocument:
    """A document of an inbox message: what its descriptor says, and where it was saved (None
    until its chunks were read)."""

    n: int
    name: str
    media_type: str
    size: int
    sha256: str
    path: Path | None = None
    #: Once read and checked: its size on the wire and the root over its chunks, as received.
    wire_size: int = 0
    chunks_root: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": self.n,
            "name": self.name,
            "media_type": self.media_type,
            "size": self.size,
            "sha256": self.sha256,
        }
        if self.path is not None:
            out["path"] = str(self.path)
        if self.chunks_root:
            out["wire_size"] = self.wire_size
            out["chunks_root"] = self.chunks_root
        return out


def publish_documents(
    producer: KafkaProducer,
    registry: SchemaRegistry,
    files: Sequence[DocumentFile],
    *,
    message_id: str,
    sender: str,
    recipient: str,
    record_key: bytes,
    sealing: Sealing | None,
    timeout_s: float,
    progress: Callable[[int, int], None] | None = None,
    tree: Suite = INTL,
) -> tuple[DocumentRef, ...]:
    """Publish every chunk of ``files`` to hub.ingress, acknowledged, and return the manifest.

    Waits for each chunk's acknowledgement before reading the next but three: at most a few
    chunks are in memory, and a broker that refuses one stops the send before the envelope.
    ``progress(bytes_sent, bytes_total)`` is told after each chunk.  ``tree`` is the suite of
    the key that signs the envelope: its hash builds each document's chunk tree.
    """
    schema = registry.latest("document_chunk")
    total = sum(f.size() for f in files)
    sent = 0
    refs = []
    for n, f in enumerate(files, start=1):
        size = f.size()
        with f.open() as source:
            doc = SplitDocument(source, size, n, message_id=message_id, sender=sender,
                                recipient=recipient, name=f.name, media_type=f.media_type,
                                sealing=sealing, tree=tree)  # fmt: skip
            in_flight: list[Any] = []
            for chunk in doc.chunks():
                value = codec.encode(schema, chunk.to_record())
                in_flight.append(producer.send(INGRESS.name, value=value, key=record_key))
                if len(in_flight) > 3:
                    in_flight.pop(0).get(timeout_s)
                sent += len(chunk.data)
                if progress is not None:
                    progress(min(sent, total), total)
            for future in in_flight:
                future.get(timeout_s)
        refs.append(doc.ref)
    return tuple(refs)


def as_planned(env: Envelope, count: int) -> Envelope:
    """``env`` as it will be once its ``count`` documents are sent, for the family's rules to
    be checked before any chunk goes out (a rule may name a document by its number)."""
    if not count:
        return env
    return replace(
        env, documents=tuple(DocumentRef(n, 0, 0, b"", b"") for n in range(1, count + 1))
    )


def descriptors(env: Envelope, keys: Sequence[EncryptionKey]) -> tuple[ReceivedDocument, ...]:
    """What each document's descriptor says, opened with this connector's key when sealed."""
    out = []
    for ref in env.documents:
        d = Descriptor.from_bytes(_opener(env, keys, ref.n)(ref.descriptor))
        out.append(ReceivedDocument(ref.n, d.name, d.media_type, d.size, d.sha256))
    return tuple(out)


def _opener(env: Envelope, keys: Sequence[EncryptionKey], n: int) -> Callable[[bytes], bytes]:
    if env.encryption is None:
        return lambda raw: _open_beside_clear_payload(env, keys, n, raw)
    wanted = str(env.encryption.get("recipient_key_id", ""))
    key = next((k for k in keys if k.key_id == wanted), None)
    if key is None:
        raise DocumentError(f"document {n} is sealed for a key this connector does not hold")
    info = e2e.document_info(env.e2e_context(), n)
    return lambda sealed: e2e.open_descriptor(sealed, key, info)


def _open_beside_clear_payload(
    env: Envelope, keys: Sequence[EncryptionKey], n: int, sealed: bytes
) -> bytes:
    """A descriptor sealed to one of this connector's keys beside a payload in clear: the
    envelope names no key, so each held key is tried with its own id in the ``info`` (a wrong
    key fails the AEAD).  A clear descriptor (sent before documents were always sealed; the hub
    now refuses them) is read as it is."""
    with contextlib.suppress(DocumentError):
        Descriptor.from_bytes(sealed)
        return sealed
    for key in keys:
        info = e2e.document_info(env.e2e_context(key.key_id), n)
        with contextlib.suppress(e2e.DecryptionError):
            return e2e.open_descriptor(sealed, key, info)
    raise DocumentError(f"document {n} is sealed for a key this connector does not hold")


def safe_name(n: int, name: str) -> str:
    """The file name a document is saved under: its number, then its own name without any
    path (a sender's descriptor is not trusted to name a place outside the folder)."""
    base = Path(name.replace("\\", "/")).name.strip().lstrip(".") or "document"
    return f"{n}-{base}"[:200]


def fetch_documents(
    make_consumer: Callable[[], KafkaConsumer],
    registry: SchemaRegistry,
    env: Envelope,
    header: bytes | None,
    folder: Path,
    keys: Sequence[EncryptionKey],
) -> tuple[ReceivedDocument, ...]:
    """Read a delivered message's chunks where the header says, check them against the signed
    manifest and save each document in ``folder``; raises ``DocumentError`` when one does not
    check out (nothing of that document is left in the folder)."""
    if header is None:
        raise DocumentError("the message names documents but the hub said nowhere where they lie")
    places = ChunkPlaces.from_header(header)
    folder.mkdir(parents=True, exist_ok=True)
    consumer = make_consumer()
    saved = []
    try:
        for ref in env.documents:
            wanted = places.documents.get(ref.n, ())
            if len(wanted) != ref.chunk_count:
                raise DocumentError(
                    f"document {ref.n}: the hub names {len(wanted)} of {ref.chunk_count} chunks",
                    reason="missing_chunk",
                )
            partial = folder / f".{ref.n}.part"
            with partial.open("wb") as out:
                asm = DocumentAssembler(ref, message_id=env.message_id, sender=str(env.sender),
                                        recipient=str(env.recipient), out=out,
                                        open_descriptor=_opener(env, keys, ref.n),
                                        tree=scheme_suite(env.signature_scheme))  # fmt: skip
                for value in _read_places(consumer, places.topic, wanted):
                    _, fields = codec.decode(registry, value)
                    asm.add(Chunk.from_record(fields))
                d = asm.finish()
            final = folder / safe_name(ref.n, d.name)
            partial.replace(final)
            saved.append(ReceivedDocument(ref.n, d.name, d.media_type, d.size, d.sha256, final,
                                          asm.wire_size, asm.root.hex()))  # fmt: skip
    except Exception:  # a document that did not check out leaves nothing behind
        for p in folder.glob(".*.part"):
            with contextlib.suppress(OSError):
                p.unlink()
        raise
    finally:
        consumer.close()
    return tuple(saved)


def _read_places(
    consumer: KafkaConsumer, topic: str, places: Sequence[tuple[int, int]]
) -> Iterator[bytes]:
    """The values at ``places`` in order, reading each run of consecutive offsets once."""
    i = 0
    while i < len(places):
        partition, first = places[i]
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, first)
        expected = first
        last_progress = time.monotonic()
        while i < len(places) and places[i] == (partition, expected):
            polled = consumer.poll(timeout_ms=500)
            records = polled.get(tp, [])
            if not records:
                if time.monotonic() - last_progress > CHUNK_WAIT_S:
                    raise DocumentError(
                        f"chunk at {topic}/{partition}@{expected} did not come "
                        f"in {CHUNK_WAIT_S:.0f} s",
                        reason="missing_chunk",
                    )
                continue
            last_progress = time.monotonic()
            for record in records:
                if record.offset < expected:
                    continue
                if record.offset != expected:
                    # A gap (retention, compaction): what was named is not there.
                    raise DocumentError(
                        f"chunk at {topic}/{partition}@{expected} is gone", reason="missing_chunk"
                    )
                yield bytes(record.value or b"")
                i += 1
                expected += 1
                if i >= len(places) or places[i] != (partition, expected):
                    break
