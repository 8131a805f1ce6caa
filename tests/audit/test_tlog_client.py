"""The served log checked by a tlog-tiles client we did not write (tlog-scales, from PyPI): it
fetches /tlog/checkpoint and the tiles over HTTP, checks the checkpoint's signature with the
operators' key, rebuilds the root from the tiles alone, and checks inclusion and consistency
proofs it makes from them with its own RFC 9162 code.

The log has 66,000 records (filled by SQL), so the client meets full and partial tiles of two
levels; the hub's pages are the real ones (``hub.runtime.tlog_pages``) on a loopback port.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from aiohttp.web import Application, AppRunner, TCPSite
from sqlalchemy import insert
from tlog_scales.backend import HttpBackend  # type: ignore[import-untyped]
from tlog_scales.reader import TilesReader  # type: ignore[import-untyped]
from tlog_scales.signing import Vkey  # type: ignore[import-untyped]
from tlog_scales.tlog import ConsistencyProofInvalid  # type: ignore[import-untyped]

from connectors.witness import TreeHeadMismatch
from hub.audit.schema import audit_log
from hub.audit.store import AuditStore
from hub.audit.tiles import TileLog
from hub.audit.transparency import ORIGIN, signed_checkpoint
from hub.core import merkle
from hub.runtime.broker import free_port
from hub.runtime.tlog_pages import TlogPages
from hub.storage.engine import make_engine, metadata
from hub.storage.tree_heads import PublishedHead, TreeHeads
from hub.trust.keys import SigningKey

N = 66_000
OLD = 65_000  # a head an agency kept from before
T0 = datetime(2026, 12, 7, tzinfo=UTC)


def record_hash(i: int) -> str:
    return merkle.sha256(f"served record {i}".encode()).hex()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SigningKey]]:
    home = tmp_path_factory.mktemp("tlog")
    store = AuditStore(f"sqlite:///{home / 'audit.db'}")
    with store.engine.begin() as conn:
        conn.execute(insert(audit_log), [
            {"seq": i + 1, "event_id": f"e{i}", "kind": "routed", "occurred_at": T0,
             "recorded_at": T0, "facts": "{}", "prev_hash": "", "hash": record_hash(i)}
            for i in range(N)
        ])  # fmt: skip
    TileLog(store).integrate(N - 300)  # the last tiles are made on request, as after a burst
    key = SigningKey.generate()
    engine = make_engine(f"sqlite:///{home / 'hub.db'}")
    metadata.create_all(engine)
    root = merkle.root([merkle.leaf_hash(record_hash(i).encode()) for i in range(N)])
    note = signed_checkpoint(ORIGIN, N, root, key)
    TreeHeads(engine).record(PublishedHead(N, root.hex(), {"checkpoint": note}, T0, None))

    port = free_port("127.0.0.1")
    loop = asyncio.new_event_loop()
    runner: list[AppRunner] = []

    async def start() -> None:
        app = Application()
        TlogPages(lambda: store, TreeHeads(engine)).add_to(app)
        runner.append(AppRunner(app))
        await runner[0].setup()
        await TCPSite(runner[0], "127.0.0.1", port).start()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield f"http://127.0.0.1:{port}/tlog", key
    finally:
        asyncio.run_coroutine_threadsafe(runner[0].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        store.close()
        engine.dispose()


def test_a_tlog_tiles_client_we_did_not_write_checks_the_served_log(served) -> None:
    base, key = served
    reader = TilesReader(HttpBackend(base))
    checkpoint = reader.get_checkpoint()
    checkpoint.verify(Vkey(key.key_id, None, 1, key.public.raw))  # Ed25519 signed note
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, N)
    assert reader.calculate_root_hash() == checkpoint.root_hash  # from the tiles alone

    for index in (0, 255, 256, 65_535, 65_536, N - 1):
        leaf = merkle.leaf_hash(reader.get_entry(index))  # the entry bundle's record hash
        assert leaf == merkle.leaf_hash(record_hash(index).encode())
        reader.get_inclusion_proof(index, N).check(leaf, checkpoint.root_hash)

    old_root = merkle.root([merkle.leaf_hash(record_hash(i).encode()) for i in range(OLD)])
    reader.get_consistency_proof(OLD, N).check(old_root, checkpoint.root_hash)
    with pytest.raises(ConsistencyProofInvalid):
        reader.get_consistency_proof(OLD, N).check(b"\x00" * 32, checkpoint.root_hash)


def test_a_bad_or_missing_tile_is_a_404_problem_and_tiles_are_immutable(served) -> None:
    base, _ = served
    full = httpx.get(f"{base}/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 256 * 32
    assert "immutable" in full.headers["cache-control"]
    partial = httpx.get(f"{base}/tile/0/257.p/208")
    assert partial.status_code == 200 and len(partial.content) == 208 * 32
    for path in ("tile/0/x000/001", "tile/0/258", "tile/0/257.p/209", "tile/9/000",
                 "tile/0/..%2F..%2Fetc%2Fpasswd", "tile/entries/000.p/256"):  # fmt: skip
        answer = httpx.get(f"{base}/{path}")
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["status"] == 404
    assert httpx.get(f"{base}/checkpoint").headers["cache-control"] == "no-cache"


def test_a_connector_that_missed_heads_proves_the_next_one_from_the_served_tiles(
    served, tmp_path
) -> None:
    from connectors.tiles import RemoteTiles
    from connectors.witness import KeptHead, TreeHeadWitness, check_head
    from hub.trust.suites import INTL

    base, key = served
    leaves = [merkle.leaf_hash(record_hash(i).encode()) for i in range(N)]
    root, old_root = merkle.root(leaves), merkle.root(leaves[:OLD])
    tiles = RemoteTiles(base, INTL)
    proof = tiles.consistency(OLD, N)
    tiles.close()
    assert merkle.verify_consistency(OLD, N, old_root, root, proof)
    head = {"origin": ORIGIN, "tree_size": N, "root_hash": root.hex(), "proofs": [],
            "checkpoint": signed_checkpoint(ORIGIN, N, root, key)}  # fmt: skip
    keys = [(key.key_id, key.public.raw)]
    kept = KeptHead(ORIGIN, OLD, old_root.hex(), "")
    witness = TreeHeadWitness(tmp_path / "psb.db", tiles_url=base)
    assert check_head(kept, head, keys, witness._prover(ORIGIN)).kind == "consistent"
    forged = KeptHead(ORIGIN, OLD, merkle.root(leaves[1 : OLD + 1]).hex(), "")
    with pytest.raises(TreeHeadMismatch):
        check_head(forged, head, keys, witness._prover(ORIGIN))
    nowhere = TreeHeadWitness(
        tmp_path / "x.db", tiles_url=f"http://127.0.0.1:{free_port('127.0.0.1')}/tlog"
    )
    assert check_head(kept, head, keys, nowhere._prover(ORIGIN)).kind == "gap"
    witness.close()
    nowhere.close()
