"""``POST /v1/messages`` as ``multipart/form-data``, read as it arrives.

A part named ``message`` holds the JSON body of a plain send (at most ``MAX_MESSAGE_BYTES``);
every other part with a ``filename`` is a document, in the order sent, its media type from the
part's ``Content-Type``.  A document part is written straight to a file in the gateway's own
private folder, hashed as it is written, so the gateway's memory does not grow with its size; a
part that brings ``Content-Digest`` (RFC 9530, ``sha-256`` or ``sha-512``) is checked against
what arrived.  Whatever goes wrong, the files written so far are removed.

Disk is bounded twice (:class:`UploadBudget`): one request may write at most
``max_request_bytes`` in all (100 parts of 2 GiB would otherwise be 200 GiB), and all requests
in flight at one gateway — one agency's — at most ``max_uploads_bytes``; past either the
request is refused with 413 as soon as the bound is crossed and its files are removed.  Parts
left behind by a gateway that was killed mid-request are swept at start (:func:`sweep`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

from hub.core.errors import HubError
from hub.core.files import private_dir

#: The largest ``message`` part (the JSON a plain send takes).
MAX_MESSAGE_BYTES = 1024 * 1024
#: At most this many documents in one message.
MAX_DOCUMENTS = 100
#: RFC 9530 algorithms a part may be checked with.
DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
_DIGEST_ITEM = re.compile(r"\s*([a-z0-9-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*")


class UploadError(HubError):
    """A multipart body the gateway will not take: an HTTP status and a reason code."""

    def __init__(self, status: int, reason: str, detail: str, pointer: str = "") -> None:
        super().__init__(detail, reason=reason)
        self.status = status
        self.pointer = pointer


@dataclass
class UploadedDocument:
    """One document part as written to disk."""

    n: int
    path: Path
    name: str
    media_type: str
    size: int = 0
    sha256: str = ""
    content_digest: str | None = None


#: One request's documents together, and all uploads in flight at one gateway (its agency).
MAX_REQUEST_BYTES = 4 * 1024**3
MAX_UPLOADS_BYTES = 8 * 1024**3


class UploadBudget:
    """The bytes of uploads on disk at one gateway, taken as they are written and given back
    when a request's files are removed."""

    def __init__(
        self, per_request: int = MAX_REQUEST_BYTES, in_flight: int = MAX_UPLOADS_BYTES
    ) -> None:
        self.per_request, self.in_flight = per_request, in_flight
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.in_flight:
                return False
            self.used += n
            return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self.used = max(0, self.used - n)


def sweep(folder: Path) -> int:
    """Remove what a gateway killed mid-request left in its uploads folder (``*.part``, and the
    outbox's copies ``outbox-*``); only at start, when nothing is in flight.  Returns how many."""
    if not folder.is_dir():
        return 0
    gone = 0
    for leftover in [*folder.glob("*.part"), *folder.glob("outbox-*")]:
        leftover.unlink(missing_ok=True)
        gone += 1
    return gone


@dataclass
class Upload:
    """The parts of one multipart request; ``remove()`` deletes its files and gives their bytes
    back to the budget."""

    message: bytes = b""
    documents: list[UploadedDocument] = field(default_factory=list)
    budget: UploadBudget | None = None
    taken: int = 0

    def remove(self) -> None:
        for d in self.documents:
            d.path.unlink(missing_ok=True)
        if self.budget is not None and self.taken:
            self.budget.give_back(self.taken)
            self.taken = 0


def content_digest_of(sha256_hex: str) -> str:
    """The ``Content-Digest`` / ``Repr-Digest`` field value for a SHA-256 given in hex."""
    return "sha-256=:" + base64.b64encode(bytes.fromhex(sha256_hex)).decode() + ":"


def parse_digest_field(value: str) -> dict[str, bytes]:
    """An RFC 9530 dictionary (``alg=:base64:, …``) as algorithm → digest; raises ValueError."""
    out = {}
    for item in value.split(","):
        m = _DIGEST_ITEM.fullmatch(item)
        if m is None:
            raise ValueError("not an RFC 9530 digest dictionary")
        out[m.group(1)] = base64.b64decode(m.group(2), validate=True)
    return out


class _Reader:
    """python-multipart's callbacks, writing each document part to its own file."""

    def __init__(self, folder: Path, max_document_bytes: int, budget: UploadBudget) -> None:
        self.folder = folder
        self.max_document_bytes = max_document_bytes
        self.budget = budget
        self.upload = Upload(budget=budget)
        self._headers: dict[str, bytes] = {}
        self._name = b""
        self._value = b""
        self._kind = ""  # message | document | ignored
        self._out: BinaryIO | None = None
        self._hashes: dict[str, Any] = {}
        self._seen_message = False

    # header callbacks
    def on_part_begin(self) -> None:
        self._headers = {}
        self._kind = ""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._name.decode("latin-1").lower()] = self._value
        self._name = self._value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if name == "message" and filename is None:
            if self._seen_message:
                raise UploadError(422, "invalid_request", "more than one message part", "/message")
            self._seen_message = True
            self._kind = "message"
        elif filename is not None:
            self._start_document(filename.decode("utf-8", "replace"))
        else:
            self._kind = "ignored"

    def _start_document(self, filename: str) -> None:
        n = len(self.upload.documents) + 1
        if n > MAX_DOCUMENTS:
            raise UploadError(422, "invalid_document", f"more than {MAX_DOCUMENTS} documents")
        media_type = self._headers.get("content-type", b"").decode("latin-1").split(";")[0]
        digest = self._headers.get("content-digest")
        path = self.folder / f"{secrets.token_hex(16)}.part"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._out = os.fdopen(fd, "wb")
        doc = UploadedDocument(n, path, filename, media_type.strip().lower())
        doc.content_digest = digest.decode("latin-1") if digest else None
        self.upload.documents.append(doc)
        self._hashes = {"sha-256": hashlib.sha256()}
        if doc.content_digest:
            try:
                wanted = parse_digest_field(doc.content_digest)
            except ValueError as exc:
                raise UploadError(
                    400, "malformed_body", f"document {n}: Content-Digest is not RFC 9530"
                ) from exc
            for alg in wanted:
                if alg in DIGESTS and alg not in self._hashes:
                    self._hashes[alg] = DIGESTS[alg]()
        self._kind = "document"

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self._kind == "message":
            if len(self.upload.message) + len(piece) > MAX_MESSAGE_BYTES:
                raise UploadError(413, "too_large", "the message part is over 1 MiB", "/message")
            self.upload.message += piece
        elif self._kind == "document" and self._out is not None:
            doc = self.upload.documents[-1]
            doc.size += len(piece)
            if doc.size > self.max_document_bytes:
                raise UploadError(
                    413,
                    "document_too_large",
                    f"document {doc.n} is over the limit of {self.max_document_bytes} bytes",
                )
            if self.upload.taken + len(piece) > self.budget.per_request:
                raise UploadError(413, "request_too_large", "the documents of one request are "
                                  f"over {self.budget.per_request} bytes together")  # fmt: skip
            if not self.budget.take(len(piece)):
                raise UploadError(413, "uploads_full", "this gateway holds as many uploads as "
                                  "it may; send again when others are done")  # fmt: skip
            self.upload.taken += len(piece)
            self._out.write(piece)
            for h in self._hashes.values():
                h.update(piece)

    def on_part_end(self) -> None:
        if self._kind != "document" or self._out is None:
            return
        self._out.close()
        self._out = None
        doc = self.upload.documents[-1]
        doc.sha256 = self._hashes["sha-256"].hexdigest()
        if doc.content_digest:
            wanted = parse_digest_field(doc.content_digest)
            known = {a: d for a, d in wanted.items() if a in DIGESTS}
            if not known:
                raise UploadError(
                    400,
                    "malformed_body",
                    f"document {doc.n}: Content-Digest names no algorithm this gateway "
                    f"checks ({', '.join(DIGESTS)})",
                )
            for alg, expected in known.items():
                if self._hashes[alg].digest() != expected:
                    raise UploadError(
                        422,
                        "digest_mismatch",
                        f"document {doc.n}: what arrived does not match its Content-Digest",
                    )

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


async def read_upload(
    headers: Any,
    stream: Any,
    folder: Path,
    *,
    max_document_bytes: int,
    budget: UploadBudget | None = None,
) -> Upload:
    """Read a ``multipart/form-data`` request body part by part into ``folder``."""
    _, params = parse_options_header(headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadError(400, "malformed_body", "multipart/form-data without a boundary")
    private_dir(folder)
    reader = _Reader(folder, max_document_bytes, budget or UploadBudget())
    callbacks: Any = {
        "on_part_begin": reader.on_part_begin,
        "on_part_data": reader.on_part_data,
        "on_part_end": reader.on_part_end,
        "on_header_field": reader.on_header_field,
        "on_header_value": reader.on_header_value,
        "on_header_end": reader.on_header_end,
        "on_headers_finished": reader.on_headers_finished,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        async for piece in stream:
            parser.write(piece)
        parser.finalize()
    except UploadError:
        reader.close()
        reader.upload.remove()
        raise
    except Exception as exc:  # python-multipart's own errors: a body that is not multipart
        reader.close()
        reader.upload.remove()
        raise UploadError(400, "malformed_body", "the multipart body cannot be read") from exc
    reader.close()
    if not reader.upload.message:
        reader.upload.remove()
        raise UploadError(422, "invalid_request", "no part named message", "/message")
    return reader.upload
