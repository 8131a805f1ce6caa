"""A document chunk's outcome: kept (copied to the recipient's documents topic and recorded), a
repeat of one kept, or refused because its place holds other bytes.

Chunks have no audit events of their own: the log records the message, whose signed manifest
names every chunk's digest through its root, when the envelope is decided; a refused chunk is a
dead letter like any record, with its events.  The places of kept chunks are named to the
recipient only in a delivered envelope's ``hub-chunks`` header (:func:`chunks_header`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hub.core import merkle
from hub.routing.router import ChunkAccepted, Delivered, Rejected
from hub.runtime import metrics
from hub.storage.chunks import KeptChunk
from hub.trust import suites
from hub.wire.chunk_places import ChunkPlaces
from hub.wire.deadletter import Reason

#: The outcome of a chunk kept for its envelope.
CHUNK_KEPT = "chunk_kept"


def leaf_of(d: ChunkAccepted) -> bytes:
    """The chunk's leaf in the tree hash it declares (an unknown one was refused before)."""
    tree = suites.by_hash_name(d.chunk.tree) or suites.INTL
    return merkle.leaf_hash(d.chunk.data, tree.digest)


def slot_key(d: ChunkAccepted) -> str:
    """The place a chunk takes, as a batch segment's key (``hub.runtime.ingress.batch``)."""
    return "chunk:" + json.dumps(d.chunk.slot)


def message_key(message_id: str, sender: str) -> str:
    """What an envelope with documents depends on: every chunk of its message and sender."""
    return "chunks:" + json.dumps([message_id, sender])


def conflict(d: ChunkAccepted) -> Rejected:
    c = d.chunk
    return Rejected(
        Reason.INVALID_CHUNK,
        f"document {c.document} chunk {c.index}: its place already holds other bytes",
    )


def kept(d: ChunkAccepted, ack: Any, at: datetime) -> KeptChunk:
    return KeptChunk(
        slot=d.chunk.slot,
        leaf=leaf_of(d),
        size=len(d.chunk.data),
        topic=d.topic,
        partition=int(ack.partition),
        offset=int(ack.offset),
        recorded_at=at,
    )


def count(outcome: str) -> None:
    metrics.CHUNKS.labels(outcome).inc()


def chunks_header(d: Delivered) -> bytes | None:
    """Where the delivered message's chunks lie (``hub.wire.documents.ChunkPlaces``)."""
    if not d.documents:
        return None
    places = {doc.n: doc.places for doc in d.documents}
    return ChunkPlaces(d.documents[0].topic, places).to_header()
