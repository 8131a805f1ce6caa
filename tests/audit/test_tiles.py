"""The audit log's tree as tlog-tiles: the same roots and proofs as the whole-tree functions, read
from a few tiles; full tiles stored once; a stored tile altered is caught by the proof's check.

The store is filled by SQL with 66,000 records (past one full level-1 tile, 65,536 leaves), so
every kind of tile is met: full and partial at levels 0 and 1, and level 2's partial tile.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from hub.audit.schema import audit_log, audit_tiles
from hub.audit.store import AuditStore
from hub.audit.tiles import TiledTree, TileLog, TileNotFound, parse_tile_path, tile_path
from hub.core import merkle

N = 66_000
T0 = datetime(2026, 12, 7, tzinfo=UTC)


def record_hash(i: int) -> str:
    return merkle.sha256(f"record {i}".encode()).hex()


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditStore, list[bytes]]:
    path: Path = tmp_path_factory.mktemp("tiles") / "audit.db"
    store = AuditStore(f"sqlite:///{path}")
    rows = [
        {"seq": i + 1, "event_id": f"e{i}", "kind": "routed", "occurred_at": T0,
         "recorded_at": T0, "facts": "{}", "prev_hash": "", "hash": record_hash(i)}
        for i in range(N)
    ]  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(insert(audit_log), rows)
    return store, [merkle.leaf_hash(record_hash(i).encode()) for i in range(N)]


def test_tile_paths_are_the_specs_and_only_their_canonical_spelling_is_accepted() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(1, 0, 5) == "tile/1/000.p/5"
    assert tile_path(-1, 1000) == "tile/entries/x001/000"
    for path in ("tile/0/x001/x234/067", "tile/1/000.p/5", "tile/entries/x001/000"):
        assert tile_path(*parse_tile_path(path)) == path
    for bad in ("tile/0/x000/067", "tile/0/000.p/256", "tile/0/000.p/0", "tile/0/1", "tile/-1/000",
                "tile/0/../000", "tile/0/067/", "tile/01/000"):  # fmt: skip
        with pytest.raises(TileNotFound):
            parse_tile_path(bad)


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 1000, 65_535, 65_536, 65_537, N])
def test_roots_and_proofs_from_tiles_are_the_whole_trees(filled, size: int) -> None:
    store, leaves = filled
    tree = TiledTree(TileLog(store), size)
    root = merkle.root(leaves[:size])
    assert tree.root() == root
    rng = random.Random(size)
    for index in {0, size - 1, rng.randrange(size)}:
        proof = tree.inclusion(index)
        assert merkle.verify_inclusion(index, size, leaves[index], proof, root)
    for m in {1, size, rng.randrange(1, size + 1)}:
        assert merkle.verify_consistency(m, size, merkle.root(leaves[:m]), root,
                                         tree.consistency(m))  # fmt: skip


def test_full_tiles_are_stored_once_and_then_read_instead_of_the_records(filled) -> None:
    store, leaves = filled
    tiles = TileLog(store)
    assert tiles.integrate(N) == N // 256 + 1  # 257 tiles of level 0, one of level 1
    assert TileLog(store).integrate(N) == 0
    with store.engine.connect() as conn:
        levels = conn.execute(select(audit_tiles.c.level, audit_tiles.c.idx)).all()
    assert sorted(set(levels)) == sorted({(0, n) for n in range(257)} | {(1, 0)})
    tree = TiledTree(TileLog(store), N)
    assert tree.root() == merkle.root(leaves)
    assert tiles.tile(2, 0, 1, N) == merkle.root(leaves[:65_536])  # level 2's partial tile
    with pytest.raises(TileNotFound):
        tiles.tile(0, 258, 256, N)  # beyond the tree
    with pytest.raises(TileNotFound):
        tiles.tile(0, 257, 200, N)  # the partial tile has 208 entries, not 200


def test_a_stored_tile_altered_by_the_host_makes_its_proofs_fail(filled) -> None:
    store, leaves = filled
    TileLog(store).integrate(N)
    with store.engine.begin() as conn:
        conn.execute(
            update(audit_tiles)
            .where(audit_tiles.c.level == 0, audit_tiles.c.idx == 3)
            .values(hashes=b"\x00" * 32 * 256)
        )
    try:
        proof = TiledTree(TileLog(store), N).inclusion(3 * 256 + 1)
        assert not merkle.verify_inclusion(3 * 256 + 1, N, leaves[3 * 256 + 1], proof,
                                           merkle.root(leaves))  # fmt: skip
    finally:
        with store.engine.begin() as conn:
            conn.execute(audit_tiles.delete())
