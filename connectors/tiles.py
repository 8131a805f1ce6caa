"""The audit log's tiles as the hub serves them (``/tlog/tile/...``, c2sp.org/tlog-tiles), read
by a connector to prove a tree head consistent with the one it kept when the head's own proofs
start elsewhere (it missed heads).

Nothing fetched is believed: a consistency proof made from these tiles is checked by the
RFC 9162 verifier against the root the connector kept and the root the operators signed, so a
host serving other tiles gets a refusal, not a pass.  Each fetch is bounded (size, time).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from hub.audit.tiles import HEIGHT, TiledTree, tile_path
from hub.trust.suites import Suite

#: A full tile holds 256 hashes: no answer may be longer than that.
MAX_TILE_BYTES = (1 << HEIGHT) * 64


class TileFetchError(Exception):
    """The served log did not give a tile (unreachable, refused, wrong size)."""


class RemoteTiles:
    """A :class:`hub.audit.tiles.TileSource` over HTTP: ``base`` is the hub's ``…/tlog``."""

    def __init__(self, base: str, suite: Suite, *, timeout_s: float = 10.0) -> None:
        self.base = base.rstrip("/")
        self.h: Callable[[bytes], bytes] = suite.digest
        self.hash_size = len(suite.digest(b""))
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def tile(self, level: int, n: int, width: int, size: int) -> bytes:
        url = f"{self.base}/{tile_path(level, n, width)}"
        body = b""
        try:
            with self.client.stream("GET", url) as answer:
                for part in answer.iter_bytes():
                    body += part
                    if len(body) > MAX_TILE_BYTES:  # the host is not trusted with our memory
                        break
                status = answer.status_code
        except httpx.HTTPError as exc:
            raise TileFetchError(f"{url}: {type(exc).__name__}") from exc
        if status != 200 or len(body) != width * self.hash_size:
            raise TileFetchError(f"{url}: {status}, {len(body)} bytes")
        return body

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 consistency proof from ``old_size`` to ``new_size``, made from tiles."""
        return TiledTree(self, new_size).consistency(old_size)

    def close(self) -> None:
        self.client.close()
