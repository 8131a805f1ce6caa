"""Documents that travel with a message: its signed manifest, its chunks, and the streaming
split and reassembly on either end.

A document is cut into chunks of at most ``CHUNK_BYTES`` as they travel; each chunk is a
``DocumentChunk`` record on ``hub.ingress`` ahead of its envelope, with the envelope's Kafka key.
The envelope's manifest has one :class:`DocumentRef` per document — chunk count, bytes on the
wire, the RFC 9162 root over the chunks' bytes, and the :class:`Descriptor` — and the sender's
signature covers :func:`manifest_digest`, so the router and the recipient check every chunk
without trusting the hub.  The descriptor (file name, media type, plaintext size and SHA-256,
and for an encrypted document its key) is payload: sealed for the recipient when the payload
is, and never logged.

Both ends stream: a chunk at a time in, a chunk at a time out, with the running digests of
``hashlib`` and ``merkle.RootBuilder``; memory does not grow with a document's size.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from hub.core import merkle
from hub.trust import e2e, suites
from hub.trust.suites import PublicKey
from hub.wire.descriptor import Descriptor, DocumentError
from hub.wire.media import HEAD, media_problem

CHUNK_STEM = "document_chunk"
#: The largest chunk on the wire; a sealed chunk carries a 16-byte tag, so it holds 16 bytes less.
CHUNK_BYTES = 512 * 1024
CHUNK_PLAINTEXT = CHUNK_BYTES - e2e.CHUNK_TAG_LEN
#: The default limit of one document (the ``max_document_bytes`` setting).
MAX_DOCUMENT_BYTES = 2 * 1024**3
#: A file name's longest form, in characters.
MAX_NAME = 255
UPLOAD = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class DocumentRef:
    """One document in an envelope's signed manifest."""

    n: int
    chunk_count: int
    size: int  # bytes on the wire: the sum of its chunks' data
    chunks_root: bytes  # RFC 9162 root over the chunks' data, in order
    descriptor: bytes  # Descriptor.to_bytes(), sealed for the recipient when encrypted
    #: Drawn by the sender for this sending; its chunks carry it.  Only chunks of the upload the
    #: signed manifest names count, so a retry under a new key, or chunks a stranger wrote under
    #: the same message id, never mix in (an upload id is unguessable before the envelope).
    upload: str = ""

    def to_record(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "upload": self.upload,
            "chunk_count": self.chunk_count,
            "size": self.size,
            "chunks_root": self.chunks_root,
            "descriptor": self.descriptor,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> DocumentRef:
        return cls(
            int(r["n"]),
            int(r["chunk_count"]),
            int(r["size"]),
            bytes(r["chunks_root"]),
            bytes(r["descriptor"]),
            str(r.get("upload", "")),
        )


def documents_fact(items: Iterable[tuple[int, int, str]]) -> str:
    """``n:wire_size:chunks_root`` per document, joined by spaces: how the audit log keeps what a
    manifest said was sent and what a receipt says was received (digests and sizes only)."""
    return " ".join(f"{n}:{size}:{root}" for n, size, root in items)


def parse_documents_fact(text: str) -> dict[int, tuple[int, str]]:
    """The reverse of :func:`documents_fact`: n → (wire size, chunks root); bad items dropped."""
    out = {}
    for item in text.split():
        n, _, rest = item.partition(":")
        size, _, root = rest.partition(":")
        if n.isdigit() and size.isdigit() and root:
            out[int(n)] = (int(size), root)
    return out


def manifest_digest(refs: list[DocumentRef], suite: suites.Suite = suites.INTL) -> str:
    """Lowercase hex digest, by ``suite``'s hash, of the manifest as the signature covers it:
    ``hub-manifest-v1``, then per document its number, upload, chunk count, wire size, chunk
    root and descriptor digest."""
    out = bytearray(e2e.length_prefixed("hub-manifest-v1"))
    for r in refs:
        out += e2e.length_prefixed(
            str(r.n), r.upload, str(r.chunk_count), str(r.size), r.chunks_root.hex(),
            suite.digest(r.descriptor).hex(),
        )  # fmt: skip
    return suite.digest(bytes(out)).hex()


@dataclass(frozen=True)
class Chunk:
    message_id: str
    sender: str
    recipient: str
    document: int
    index: int
    count: int
    data: bytes
    upload: str = ""
    #: The hash of the document's chunk tree (``document_chunk.v2``): the envelope scheme's,
    #: ``sha256``, or ``sm3`` under hub-sig-sm2-v1.
    tree: str = "sha256"

    def to_record(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "upload": self.upload,
            "document": self.document,
            "index": self.index,
            "count": self.count,
            "data": self.data,
            "tree": self.tree,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Chunk:
        return cls(
            str(r["message_id"]),
            str(r["sender"]),
            str(r["recipient"]),
            int(r["document"]),
            int(r["index"]),
            int(r["count"]),
            bytes(r["data"]),
            str(r["upload"]),
            str(r.get("tree") or "sha256"),
        )

    @property
    def slot(self) -> tuple[str, str, int, str, int]:
        """Where the chunk belongs: message, sender, document, upload, index."""
        return (self.message_id, self.sender, self.document, self.upload, self.index)

    def problem(self, max_document_bytes: int = MAX_DOCUMENT_BYTES) -> DocumentError | None:
        """What is wrong with this chunk on its own (the router's first look), or None."""
        if len(self.data) > CHUNK_BYTES:
            return DocumentError(
                f"chunk of {len(self.data)} bytes, over {CHUNK_BYTES}", reason="oversized_chunk"
            )
        if not UPLOAD.fullmatch(self.upload):
            return DocumentError("chunk without a 32-hex-digit upload id", reason="invalid_chunk")
        if suites.by_hash_name(self.tree) is None:
            return DocumentError("chunk of a tree with an unknown hash", reason="invalid_chunk")
        if not (0 <= self.index < self.count and self.document >= 1):
            return DocumentError(
                "chunk index, count or document number out of range", reason="invalid_chunk"
            )
        if self.count * CHUNK_BYTES > max_document_bytes + CHUNK_BYTES:
            return DocumentError(
                f"document of {self.count} chunks is over the limit of {max_document_bytes} bytes",
                reason="document_too_large",
            )
        return None


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK_PLAINTEXT))


@dataclass
class Sealing:
    """To whom a document is sealed: the recipient's key and the payload's HPKE ``info``."""

    public: PublicKey
    payload_info: bytes


class SplitDocument:
    """One document cut into chunks, read from ``source`` as they are taken (``chunks()``);
    ``ref`` is its manifest entry once every chunk was taken."""

    def __init__(
        self,
        source: BinaryIO,
        size: int,
        n: int,
        *,
        message_id: str,
        sender: str,
        recipient: str,
        name: str,
        media_type: str,
        sealing: Sealing | None,
        max_bytes: int = MAX_DOCUMENT_BYTES,
        tree: suites.Suite = suites.INTL,
    ) -> None:
        if size > max_bytes:
            raise DocumentError(
                f"document {n} has {size} bytes, over the limit of {max_bytes}",
                reason="document_too_large",
            )
        if not name or len(name) > MAX_NAME or any(c in name for c in "/\\\x00"):
            raise DocumentError(
                f"document {n}: a file name of 1-{MAX_NAME} characters, no path",
                reason="invalid_document",
            )
        self.source, self.size, self.n = source, size, n
        self.message_id, self.sender, self.recipient = message_id, sender, recipient
        self.name, self.media_type, self.sealing = name, media_type, sealing
        self.tree = tree  # the signing key's suite: its hash builds the chunk tree
        self.suite = sealing.public.suite if sealing else None
        self.key = e2e.new_document_key(self.suite) if self.suite else None
        self.count = chunk_count(size)
        self.upload = secrets.token_hex(16)
        self._ref: DocumentRef | None = None

    def chunks(self) -> Iterator[Chunk]:
        plain, root, wire, read = hashlib.sha256(), merkle.RootBuilder(self.tree.digest), 0, 0
        for index in range(self.count):
            block = self.source.read(min(CHUNK_PLAINTEXT, self.size - read))
            if index == 0 and (problem := media_problem(self.media_type, block[:HEAD])):
                raise DocumentError(f"document {self.n}: {problem}", reason="media_mismatch")
            read += len(block)
            plain.update(block)
            data = block
            if self.key is not None and self.suite is not None:
                aad = e2e.chunk_aad(
                    self.message_id, self.sender, self.recipient, self.n, index, self.count
                )
                data = e2e.seal_chunk(self.suite, self.key, index, block, aad)
            root.add(merkle.leaf_hash(data, self.tree.digest))
            wire += len(data)
            yield Chunk(
                self.message_id,
                self.sender,
                self.recipient,
                self.n,
                index,
                self.count,
                data,
                self.upload,
                self.tree.hash_name,
            )
        if read != self.size or self.source.read(1):
            raise DocumentError(f"document {self.n} changed size while it was read")
        cipher = self.suite.name if self.suite and self.suite.name != suites.DEFAULT else None
        descriptor = Descriptor(
            self.name, self.media_type, self.size, plain.hexdigest(), self.key, cipher
        ).to_bytes()
        if self.sealing is not None:
            info = e2e.document_info(self.sealing.payload_info, self.n)
            descriptor = e2e.seal_descriptor(descriptor, self.sealing.public, info)
        self._ref = DocumentRef(self.n, self.count, wire, root.root(), descriptor, self.upload)

    @property
    def ref(self) -> DocumentRef:
        if self._ref is None:
            raise RuntimeError("take every chunk before the manifest entry")
        return self._ref


class DocumentAssembler:
    """One document put back together from its chunks in order, written to ``out`` as they
    come, and checked against the signed manifest: chunk count and root, plaintext size, SHA-256
    and media type.  ``open_descriptor`` unseals an encrypted descriptor (None: in clear)."""

    def __init__(
        self,
        ref: DocumentRef,
        *,
        message_id: str,
        sender: str,
        recipient: str,
        out: BinaryIO,
        open_descriptor: Callable[[bytes], bytes] | None,
        tree: suites.Suite = suites.INTL,
    ) -> None:
        raw = open_descriptor(ref.descriptor) if open_descriptor else ref.descriptor
        self.descriptor = Descriptor.from_bytes(raw)
        self.ref, self.out = ref, out
        self.message_id, self.sender, self.recipient = message_id, sender, recipient
        self.next, self.tree = 0, tree
        self._plain, self._root, self._wire, self._written = (
            hashlib.sha256(),
            merkle.RootBuilder(tree.digest),
            0,
            0,
        )

    def add(self, chunk: Chunk) -> None:
        """The next chunk; one already taken is a repeat and ignored, a gap is an error."""
        if chunk.index < self.next:
            return
        if chunk.index > self.next:
            raise DocumentError(
                f"document {self.ref.n}: chunk {self.next} is missing", reason="missing_chunk"
            )
        if (
            chunk.count != self.ref.chunk_count
            or chunk.upload != self.ref.upload
            or len(chunk.data) > CHUNK_BYTES
        ):
            raise DocumentError(
                f"document {self.ref.n}: chunk {chunk.index} does not fit the manifest",
                reason="corrupt_chunk",
            )
        self._root.add(merkle.leaf_hash(chunk.data, self.tree.digest))
        self._wire += len(chunk.data)
        block = chunk.data
        if self.descriptor.key is not None:
            aad = e2e.chunk_aad(
                self.message_id, self.sender, self.recipient, self.ref.n, chunk.index, chunk.count
            )
            try:
                block = e2e.open_chunk(self.descriptor.suite, self.descriptor.key, chunk.index,
                                       chunk.data, aad)  # fmt: skip
            except e2e.DecryptionError as exc:
                raise DocumentError(str(exc), reason="corrupt_chunk") from exc
        if self.next == 0 and (problem := media_problem(self.descriptor.media_type, block[:HEAD])):
            raise DocumentError(f"document {self.ref.n}: {problem}", reason="media_mismatch")
        self._plain.update(block)
        self._written += len(block)
        self.out.write(block)
        self.next += 1

    @property
    def root(self) -> bytes:
        """The RFC 9162 root over the chunks added so far, as they arrived."""
        return self._root.root()

    @property
    def wire_size(self) -> int:
        return self._wire

    def finish(self) -> Descriptor:
        """Raise unless every chunk came and everything matches the manifest."""
        if self.next != self.ref.chunk_count:
            raise DocumentError(
                f"document {self.ref.n}: {self.ref.chunk_count - self.next} chunk(s) missing",
                reason="missing_chunk",
            )
        if self._root.root() != self.ref.chunks_root or self._wire != self.ref.size:
            raise DocumentError(
                f"document {self.ref.n}: the chunks are not the ones signed for",
                reason="corrupt_chunk",
            )
        d = self.descriptor
        if self._written != d.size or self._plain.hexdigest() != d.sha256:
            raise DocumentError(
                f"document {self.ref.n}: size or SHA-256 differs from the descriptor",
                reason="corrupt_chunk",
            )
        return d
