"""The audit log's Merkle tree stored as tiles (c2sp.org/tlog-tiles): proofs in O(log n) reads.

A tile holds 256 consecutive hashes of one level of tiles: level 0 the leaf hashes, level L+1
the roots of level L's full tiles (each the root of 256**(L+1) leaves).  Only full tiles are
stored (``audit_tiles``, with each tile's root beside it); a partial tile, the right edge of a
tree of a given size, is made when asked from at most 255 stored roots or records.  Full tiles
never change, so integrating them is idempotent: every ``AuditStore.append`` integrates the tiles
its batch completed (:func:`integrate_quietly`, as Tessera integrates a batch of entries), and a
reader who finds a tile missing computes it from the records below.

Every hash of a tree of ``size`` leaves then comes from at most a few tiles per level
(:class:`TiledTree`): a root, an inclusion proof or a consistency proof reads O(log n) rows and
hashes O(256 log n), never every leaf.  The hash is the log's suite's (SHA-256 or SM3).

Paths follow tlog-tiles: ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``, where ``N``
is written in 3-digit elements, all but the last prefixed with ``x`` (``x001/x234/067``).  An
entry bundle holds the leaves' data (each record's chain hash, 64 hex digits), each prefixed
with its length as a big-endian uint16.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import and_, select

from hub.audit.schema import audit_log, audit_pruned, audit_tiles
from hub.core import merkle
from hub.core.errors import NotFound
from hub.storage.engine import insert_ignore

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from hub.trust.suites import Suite


class AuditStore(Protocol):
    """What tiles need of the audit store (``hub.audit.store``, which integrates after each
    append and so cannot be imported here): its engine and the suite whose hash builds the tree."""

    engine: Engine

    @property
    def suite(self) -> Suite: ...


log = logging.getLogger("hub.audit.tiles")

WIDTH = 256
HEIGHT = 8
HASH_SIZE = 32


class TileNotFound(NotFound):
    """No such tile: a malformed path, or one beyond the tree (HTTP 404)."""


_PATH = re.compile(r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]{1,3}))?")


def tile_path(level: int, n: int, width: int = WIDTH) -> str:
    """The tlog-tiles path of tile ``n`` of ``level`` (-1: entry bundles), ``width`` entries."""
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.insert(0, f"x{n % 1000:03d}")
        n //= 1000
    name = "/".join(parts) + (f".p/{width}" if width < WIDTH else "")
    return f"tile/{'entries' if level < 0 else level}/{name}"


def parse_tile_path(path: str) -> tuple[int, int, int]:
    """(level, index, width) of a tlog-tiles path, level -1 for entry bundles; only the one
    canonical spelling of each tile is accepted (no ``x000/``, no ``.p/256``)."""
    m = _PATH.fullmatch(path)
    if m is None:
        raise TileNotFound("not a tile path")
    level = -1 if m[1] == "entries" else int(m[1])
    n = int(m[2].replace("x", "").replace("/", ""))
    width = int(m[3]) if m[3] is not None else WIDTH
    if not 0 < width <= WIDTH or tile_path(level, n, width) != path:
        raise TileNotFound("not a canonical tile path")
    return level, n, width


def split_hashes(data: bytes) -> list[bytes]:
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def leaf_data(store: AuditStore, lo: int, hi: int) -> list[str]:
    """The data of leaves ``lo`` to ``hi`` (0-based, ``hi`` excluded): the chain hashes of
    records ``seq`` lo+1 to hi, pruned records' included."""
    out: list[str] = []
    with store.engine.connect() as conn:
        for table in (audit_pruned, audit_log):
            rows = conn.execute(
                select(table.c.hash)
                .where(table.c.seq > lo + len(out), table.c.seq <= hi)
                .order_by(table.c.seq)
            ).all()
            out += [r.hash for r in rows]
    if len(out) != hi - lo:
        raise TileNotFound(f"the log has no leaves {lo} to {hi}")
    return out


def integrate_quietly(store: AuditStore, size: int, before: int) -> int:
    """After an append: store the full tiles of a log of ``size`` records; returns the size
    integrated (``before`` if it failed).  The records are committed already and a tile left out
    is stored by the next append or the tree-heads job, so a failure is only logged."""
    try:
        TileLog(store).integrate(size)
    except Exception as exc:
        log.warning("the log's tiles up to %d were not stored (%s)", size, type(exc).__name__)
        return before
    return size


def entry_bundle(leaves: list[str]) -> bytes:
    out = bytearray()
    for leaf in leaves:
        data = leaf.encode()
        out += len(data).to_bytes(2, "big") + data
    return bytes(out)


class TileLog:
    """The tiles of one audit store: stored full tiles, partial ones made on request."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store
        self.h: Callable[[bytes], bytes] = store.suite.digest
        self._cache: dict[tuple[int, int], tuple[bytes, bytes]] = {}

    # -- reading -------------------------------------------------------------------------------
    def full(self, level: int, n: int) -> tuple[bytes, bytes]:
        """(256 hashes, their root) of full tile ``n`` of ``level``: stored, or made from the
        level below (the records, at level 0) when not integrated yet."""
        key = (level, n)
        if key in self._cache:
            return self._cache[key]
        with self.store.engine.connect() as conn:
            row = conn.execute(
                select(audit_tiles.c.hashes, audit_tiles.c.root).where(
                    audit_tiles.c.level == level, audit_tiles.c.idx == n
                )
            ).first()
        if row is not None:
            found = (bytes(row.hashes), bytes(row.root))
        else:
            hashes = self._made(level, n, WIDTH)
            found = (hashes, merkle.root(split_hashes(hashes), self.h))
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = found
        return found

    def tile(self, level: int, n: int, width: int, size: int) -> bytes:
        """Tile ``n`` of ``level`` as a tree of ``size`` leaves has it: full, or partial with
        exactly ``width`` entries; TileNotFound when that tree has no such tile."""
        entries = size >> (HEIGHT * max(level, 0))
        have = min(entries - n * WIDTH, WIDTH)
        if n < 0 or have <= 0 or (width != have and not (width == WIDTH and have == WIDTH)):
            raise TileNotFound(f"a tree of {size} has no tile {tile_path(level, n, width)}")
        if level < 0:
            return entry_bundle(leaf_data(self.store, n * WIDTH, n * WIDTH + width))
        if width == WIDTH:
            return self.full(level, n)[0]
        return self._made(level, n, width)

    def at_path(self, path: str, size: int) -> bytes:
        """The tile at tlog-tiles ``path`` of a log of ``size`` records: a full tile, or a partial
        one of exactly the width the path names (the tree that has it is at most ``size``)."""
        level, n, width = parse_tile_path(path)
        have = (n * WIDTH + width) << (HEIGHT * max(level, 0))
        if have > size:
            raise TileNotFound(f"the log has no {path} yet")
        return self.tile(level, n, width, have)

    def _made(self, level: int, n: int, width: int) -> bytes:
        """The first ``width`` hashes of tile ``n`` of ``level``, from the level below."""
        if level == 0:
            hexes = leaf_data(self.store, n * WIDTH, n * WIDTH + width)
            return b"".join(merkle.leaf_hash(x.encode(), self.h) for x in hexes)
        first = n * WIDTH
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(audit_tiles.c.idx, audit_tiles.c.root)
                .where(
                    audit_tiles.c.level == level - 1,
                    and_(audit_tiles.c.idx >= first, audit_tiles.c.idx < first + width),
                )
                .order_by(audit_tiles.c.idx)
            ).all()
        roots = {int(r.idx): bytes(r.root) for r in rows}
        return b"".join(
            roots[i] if i in roots else self.full(level - 1, i)[1]
            for i in range(first, first + width)
        )

    # -- writing -------------------------------------------------------------------------------
    def integrate(self, size: int) -> int:
        """Store every full tile a tree of ``size`` leaves has and the store lacks; returns how
        many were written.  Idempotent: a tile is written once, whoever writes it."""
        written = 0
        level = 0
        while (tiles := size >> (HEIGHT * (level + 1))) > 0:
            with self.store.engine.connect() as conn:
                done = conn.execute(
                    select(audit_tiles.c.idx)
                    .where(audit_tiles.c.level == level)
                    .order_by(audit_tiles.c.idx.desc())
                    .limit(1)
                ).scalar()
            for n in range(0 if done is None else int(done) + 1, tiles):
                hashes, root = self.full(level, n)
                with self.store.engine.begin() as conn:
                    row = {"level": level, "idx": n, "hashes": hashes, "root": root}
                    written += insert_ignore(conn, audit_tiles, row)
            level += 1
        return written


class TileSource(Protocol):
    """Where a :class:`TiledTree` reads its tiles: the store (:class:`TileLog`), or a served log
    over HTTP (``connectors.tiles``)."""

    h: Callable[[bytes], bytes]

    def tile(self, level: int, n: int, width: int, size: int) -> bytes: ...


class TiledTree:
    """Roots and RFC 9162 proofs of the tree of the first ``size`` leaves, read from tiles.

    Each tile read is kept with its inner nodes (at most 255 hashes, made once), and each root
    asked for is kept too, so the proofs of many records of one message share their work."""

    def __init__(self, tiles: TileSource, size: int) -> None:
        self.tiles, self.size, self.h = tiles, size, tiles.h
        self._nodes: dict[tuple[int, int], list[list[bytes]]] = {}
        self._roots: dict[tuple[int, int], bytes] = {}

    def root(self, lo: int = 0, hi: int | None = None) -> bytes:
        hi = self.size if hi is None else hi
        if not 0 <= lo <= hi <= self.size:
            raise ValueError(f"no subtree [{lo}, {hi}) in a tree of {self.size}")
        if lo == hi:
            return self.h(b"")
        if (lo, hi) in self._roots:
            return self._roots[(lo, hi)]
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:  # a complete subtree: a node of one tile
            level, rest = divmod(n.bit_length() - 1, HEIGHT)
            tile, i = divmod(lo >> (HEIGHT * level), WIDTH)
            found = self._tile_nodes(level, tile)[rest][i >> rest]
        else:
            k = 1 << ((n - 1).bit_length() - 1)
            found = merkle.node_hash(self.root(lo, lo + k), self.root(lo + k, hi), self.h)
        self._roots[(lo, hi)] = found
        return found

    def inclusion(self, index: int) -> list[bytes]:
        return [self.root(lo, hi) for lo, hi in merkle.inclusion_ranges(index, self.size)]

    def consistency(self, m: int) -> list[bytes]:
        return [self.root(lo, hi) for lo, hi in merkle.consistency_ranges(m, self.size)]

    def _tile_nodes(self, level: int, n: int) -> list[list[bytes]]:
        """The tile's hashes, then each level of complete pairs above them, up to its root."""
        if (level, n) not in self._nodes:
            entries = self.size >> (HEIGHT * level)
            width = min(entries - n * WIDTH, WIDTH)
            rows = [split_hashes(self.tiles.tile(level, n, width, self.size))]
            while len(rows[-1]) > 1:
                below = rows[-1]
                rows.append([merkle.node_hash(below[j], below[j + 1], self.h)
                             for j in range(0, len(below) - 1, 2)])  # fmt: skip
            self._nodes[(level, n)] = rows
        return self._nodes[(level, n)]
