"""Where a message's chunks lie, as the router kept them and as it names them to the recipient.

``SeenDocument`` is the router's view of one upload of a document (built from the store's rows,
``hub.storage.chunks``), the input of the pure manifest check; ``ChunkPlaces`` is the
``hub-chunks`` header of a delivered inbox record, which the recipient's connector follows to
read the chunks from its documents topic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from hub.wire.documents import DocumentError


@dataclass(frozen=True)
class SeenDocument:
    """What the router kept of one upload of a document: how many chunks in a row from index 0,
    their bytes and RFC 9162 root, whether a place was claimed by other bytes, and where the
    chunks lie on the recipient's documents topic (partition, offset per chunk, in order)."""

    chunks: int
    size: int
    root: bytes
    conflicted: bool = False
    topic: str = ""
    places: tuple[tuple[int, int], ...] = ()


#: What the router kept of a message's chunks, by (document number, upload id).
Seen = Mapping[tuple[int, str], SeenDocument]


@dataclass(frozen=True)
class ChunkPlaces:
    """Where a delivered message's chunks lie on the recipient's documents topic: per document
    number, (partition, offset) per chunk in order.  The ``hub-chunks`` header of an inbox
    record; set by the hub, neither signed nor trusted (what is read there is checked against
    the signed manifest)."""

    topic: str
    documents: dict[int, tuple[tuple[int, int], ...]]

    def to_header(self) -> bytes:
        """JSON ``{"topic": …, "documents": [{"n": 1, "runs": [[partition, first, count]]}]}``:
        consecutive offsets as one run, so a document written without interruption is one."""
        docs = []
        for n, places in self.documents.items():
            runs: list[list[int]] = []
            for partition, offset in places:
                last = runs[-1] if runs else None
                if last and last[0] == partition and last[1] + last[2] == offset:
                    last[2] += 1
                else:
                    runs.append([partition, offset, 1])
            docs.append({"n": n, "runs": runs})
        body = {"topic": self.topic, "documents": docs}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_header(cls, data: bytes) -> ChunkPlaces:
        try:
            body = json.loads(data)
            documents = {
                int(d["n"]): tuple(
                    (int(p), int(first) + i) for p, first, count in d["runs"] for i in range(count)
                )
                for d in body["documents"]
            }
            return cls(str(body["topic"]), documents)
        except (ValueError, KeyError, TypeError) as exc:
            raise DocumentError("the hub-chunks header is not readable") from exc
