"""The rows of document chunks on SQLite and PostgreSQL: repeats change nothing, a place claimed
twice is marked, and the router's view is built in index order, a run from 0, per upload."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.core import merkle
from hub.storage.chunks import ChunkStore, KeptChunk
from hub.storage.store import Store
from tests.databases import database

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
UP = "a" * 32


@pytest.fixture(params=["sqlite", "postgresql"])
def chunks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChunkStore]:
    with database(request.param, tmp_path) as url:
        s = Store(url)
        try:
            yield ChunkStore(s.engine)
        finally:
            s.close()


def kept(index: int, data: bytes, *, upload: str = UP, offset: int | None = None) -> KeptChunk:
    return KeptChunk(("m-1", "MIB@350582", 1, upload, index), merkle.leaf_hash(data), len(data),
                     "hub.docs.PSB.350582", 2, 100 + index if offset is None else offset,
                     NOW)  # fmt: skip


def test_the_view_is_a_run_from_index_zero_with_its_root_and_places(chunks: ChunkStore) -> None:
    data = [b"one", b"two", b"three"]
    chunks.keep([kept(2, data[2]), kept(0, data[0])])
    chunks.keep([kept(1, data[1]), kept(0, data[0], offset=999)])  # a repeat changes nothing
    seen = chunks.seen("m-1", "MIB@350582")[(1, UP)]
    assert seen.chunks == 3 and seen.size == 11 and not seen.conflicted
    assert seen.root == merkle.root([merkle.leaf_hash(d) for d in data])
    assert seen.places == ((2, 100), (2, 101), (2, 102)) and seen.topic == "hub.docs.PSB.350582"
    assert chunks.seen("m-1", "PSB@350582") == {}  # another sender's view is its own


def test_a_gap_stops_the_run_and_uploads_are_apart(chunks: ChunkStore) -> None:
    chunks.keep([kept(0, b"a"), kept(2, b"c"), kept(0, b"x", upload="b" * 32)])
    seen = chunks.seen("m-1", "MIB@350582")
    assert seen[(1, UP)].chunks == 1 and seen[(1, "b" * 32)].chunks == 1


def test_leaves_and_conflicts(chunks: ChunkStore) -> None:
    chunks.keep([kept(0, b"a"), kept(1, b"b")])
    slot = ("m-1", "MIB@350582", 1, UP, 1)
    assert chunks.leaves([slot, ("m-1", "MIB@350582", 1, UP, 7)]) == {slot: merkle.leaf_hash(b"b")}
    chunks.keep([], [slot])
    assert chunks.seen("m-1", "MIB@350582")[(1, UP)].conflicted


def test_rows_go_with_the_documents_topics_retention(chunks: ChunkStore) -> None:
    chunks.keep([kept(0, b"a")])
    assert chunks.prune(NOW) == 0
    assert chunks.prune(NOW + timedelta(seconds=1)) == 1
    assert chunks.seen("m-1", "MIB@350582") == {}
