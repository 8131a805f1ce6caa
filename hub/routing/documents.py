"""Whether a message's documents may be delivered: its signed manifest against the chunks the
router has seen for it, as a pure function.

Every document travels sealed to the receiving connector, whatever the family and whether or not
the payload is encrypted: a descriptor the hub can read is refused (``document_in_clear``), so no
chunk of it is ever copied to a documents topic.

The chunks precede their envelope on ``hub.ingress`` under the same key, so when the router
decides on the envelope it has seen every chunk that was sent.  What it keeps of them is, per
document and upload, how many arrived, their bytes and the RFC 9162 root over them
(``SeenDocument``); the manifest must match the upload it names exactly, or the message is
dead-lettered and nothing of it is delivered.  Documents go with originals and with feedback
and closure (a processing report), not with receipts or acceptances.
"""

from __future__ import annotations

from hub.trust.e2e import CHUNK_TAG_LEN as CHUNK_TAG
from hub.wire.chunk_places import Seen, SeenDocument
from hub.wire.deadletter import Reason
from hub.wire.descriptor import Descriptor, DocumentError
from hub.wire.documents import CHUNK_BYTES, MAX_DOCUMENT_BYTES
from hub.wire.envelope import Envelope

#: Replies that may carry documents: a progress note or a closure with its processing report,
#: a weekly report with the week's.
REPLIES_WITH_DOCUMENTS = frozenset({"feedback", "closure", "weekly_report"})
#: Documents one message may carry.
MAX_DOCUMENTS = 100

__all__ = ["Seen", "SeenDocument", "document_problem", "places_problem"]


def document_problem(
    env: Envelope,
    *,
    is_reply: bool,
    seen: Seen,
    max_document_bytes: int = MAX_DOCUMENT_BYTES,
) -> tuple[Reason, str] | None:
    """Why ``env``'s documents cannot be delivered, or None; names numbers, never file names."""
    docs = env.documents
    if not docs:
        return None
    if is_reply and env.family not in REPLIES_WITH_DOCUMENTS:
        return Reason.INVALID_DOCUMENT, f"a {env.family} carries no documents"
    if len(docs) > MAX_DOCUMENTS:
        return Reason.INVALID_DOCUMENT, f"{len(docs)} documents, over {MAX_DOCUMENTS}"
    if [d.n for d in docs] != list(range(1, len(docs) + 1)):
        return Reason.INVALID_DOCUMENT, "documents are not numbered 1, 2, 3 … in order"
    for d in docs:
        if _in_clear(d.descriptor):
            return Reason.DOCUMENT_IN_CLEAR, f"document {d.n} is not sealed to the recipient"
        if d.chunk_count < 1 or not 0 <= d.size <= d.chunk_count * CHUNK_BYTES:
            return Reason.INVALID_DOCUMENT, f"document {d.n}: chunk count and size disagree"
        if d.size > max_document_bytes + d.chunk_count * CHUNK_TAG:
            return (
                Reason.DOCUMENT_TOO_LARGE,
                f"document {d.n}: {d.size} bytes, over the limit of {max_document_bytes}",
            )
        got = seen.get((d.n, d.upload))
        if got is None or got.chunks < d.chunk_count:
            arrived = got.chunks if got else 0
            return (
                Reason.MISSING_CHUNK,
                f"document {d.n}: {arrived} of {d.chunk_count} chunks arrived",
            )
        if got.conflicted:
            return Reason.CORRUPT_CHUNK, f"document {d.n}: a chunk came twice with other bytes"
        if got.chunks != d.chunk_count or got.size != d.size or got.root != d.chunks_root:
            return Reason.CORRUPT_CHUNK, f"document {d.n}: the chunks are not those signed for"
    # Chunks of other uploads (an earlier attempt under another key) or of numbers the manifest
    # does not name are never named to the recipient: the retention of the documents topic
    # removes them.
    return None


def _in_clear(descriptor: bytes) -> bool:
    """Whether a descriptor is readable as it stands: a sealed one is never JSON of a
    descriptor's shape, a clear one always is (``hub.wire.descriptor``)."""
    try:
        Descriptor.from_bytes(descriptor)
    except DocumentError:
        return False
    return True


def places_problem(env: Envelope, seen: Seen, docs_topic: str) -> str | None:
    """Why the kept chunks cannot be named in the delivery to ``docs_topic``, or None: they were
    copied to another connector's documents topic (the directory changed between the chunks and
    their envelope; sending again fixes it)."""
    for d in env.documents:
        got = seen.get((d.n, d.upload))
        if got is not None and got.topic != docs_topic:
            return f"document {d.n}: its chunks went to another connector's documents topic"
    return None
