"""The transfer log as a transparency log: RFC 9162 proofs, C2SP checkpoints, an outside check.

The Merkle functions are checked for every leaf and every prefix of trees up to 33 records
(proofs verify; any change makes them fail); then ``hub audit prove``'s proof of a real store is
checked by ``ops/audit/verify_export.py`` against an export, without the hub.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.audit.events import AuditEvent
from hub.audit.export import export
from hub.audit.store import AuditStore
from hub.audit.transparency import consistency, prove
from hub.core import merkle
from hub.trust.keys import SigningKey

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 6, 18, 2, 0, tzinfo=UTC)


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"record {i}".encode()) for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
def test_every_record_has_an_inclusion_proof_and_a_changed_one_has_none(n: int) -> None:
    tree = leaves(n)
    root = merkle.root(tree)
    for i in range(n):
        proof = merkle.inclusion_proof(i, tree)
        assert merkle.verify_inclusion(i, n, tree[i], proof, root)
        assert not merkle.verify_inclusion(i, n, merkle.leaf_hash(b"forged"), proof, root)


@pytest.mark.parametrize("n", [2, 3, 5, 8, 13, 17, 33])
def test_every_earlier_head_is_provably_a_prefix_and_a_rewrite_is_caught(n: int) -> None:
    tree = leaves(n)
    root = merkle.root(tree)
    for m in range(1, n + 1):
        old = merkle.root(tree[:m])
        proof = merkle.consistency_proof(m, tree)
        assert merkle.verify_consistency(m, n, old, root, proof)
        if m < n:
            rewritten = [*tree[: m - 1], merkle.leaf_hash(b"rewritten"), *tree[m:]]
            assert not merkle.verify_consistency(
                m, n, old, merkle.root(rewritten), merkle.consistency_proof(m, rewritten)
            )


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 17, 33])
def test_a_streamed_tree_gives_the_same_heads_and_proofs_without_keeping_the_leaves(n: int) -> None:
    tree = leaves(n)
    streamed = merkle.StreamedTree(n)
    streamed.want_root()
    for i in range(n):
        streamed.want_inclusion(i)
    for m in range(1, n + 1):
        streamed.want_consistency(m)
    streamed.feed(iter(tree))
    assert streamed.root() == merkle.root(tree)
    for i in range(n):
        assert streamed.inclusion(i) == merkle.inclusion_proof(i, tree)
    for m in range(1, n + 1):
        assert streamed.root(0, m) == merkle.root(tree[:m])
        assert streamed.consistency(m) == merkle.consistency_proof(m, tree)


def test_a_streamed_tree_refuses_a_short_or_long_feed_and_an_answer_not_asked_for() -> None:
    short = merkle.StreamedTree(5)
    short.want_root()
    with pytest.raises(ValueError, match="4 leaves fed to a tree of 5"):
        short.feed(iter(leaves(4)))
    long = merkle.StreamedTree(3)
    with pytest.raises(ValueError, match="more than 3"):
        long.feed(iter(leaves(4)))
    tree = merkle.StreamedTree(4)
    tree.want_inclusion(0)
    tree.feed(iter(leaves(4)))
    with pytest.raises(ValueError, match="not asked for"):
        tree.inclusion(3)


def test_the_empty_tree_and_the_single_leaf_follow_the_rfc() -> None:
    import hashlib

    assert merkle.root([]) == hashlib.sha256(b"").digest()
    assert merkle.root([merkle.leaf_hash(b"a")]) == hashlib.sha256(b"\x00a").digest()


@pytest.fixture
def store(tmp_path: Path) -> AuditStore:
    s = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    s.append(
        [
            AuditEvent(
                f"e{i}",
                "submitted",
                T0 + timedelta(seconds=i),
                message_id=f"m{i % 7}",
                conversation_id=f"m{i % 7}",
                facts={"n": str(i)},
            )
            for i in range(30)
        ]
    )
    return s


def verify_export(out: Path, proof: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "ops" / "audit" / "verify_export.py"), str(out),
         "--prove", str(proof)],
        capture_output=True,
        text=True,
    )  # fmt: skip


def test_an_outsider_checks_a_proof_against_an_export_without_the_hub(
    store: AuditStore, tmp_path: Path
) -> None:
    key = SigningKey.generate()
    proof = prove(store, "m3", key=key)
    assert proof["tree_size"] == 30 and len(proof["records"]) == 4  # e3, e10, e17, e24
    assert proof["checkpoint"].startswith("medfund-hub/audit\n30\n")
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    store.checkpoint(key)
    keys = {key.key_id: {"address": "HUB@100000", "public_key": key.public_b64}}
    export(store, tmp_path / "export", checkpoint_keys=keys)
    ok = verify_export(tmp_path / "export", path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "4 records included in the tree of 30" in ok.stdout

    forged = {**proof, "records": [{**proof["records"][0], "proof": proof["records"][1]["proof"]}]}
    path.write_text(json.dumps(forged))
    assert verify_export(tmp_path / "export", path).returncode == 1
    other_key = SigningKey.generate()
    path.write_text(json.dumps(prove(store, "m3", key=other_key)))
    refused = verify_export(tmp_path / "export", path)
    assert refused.returncode == 1 and "not signed by a trusted key" in refused.stdout


def test_a_head_kept_by_an_agency_is_a_prefix_of_the_log_until_the_host_rewrites_it(
    store: AuditStore,
) -> None:
    kept = prove(store, "m1", key=None)  # an agency keeps this head
    store.append([AuditEvent("e-late", "submitted", T0, message_id="m9")])
    c = consistency(store, kept["tree_size"])
    assert c["old_root"] == kept["root"] and c["tree_size"] == 31
    assert merkle.verify_consistency(
        30, 31, bytes.fromhex(kept["root"]), bytes.fromhex(c["root"]),
        [bytes.fromhex(p) for p in c["proof"]],
    )  # fmt: skip
    # The host drops the guard and rewrites record #5: the kept head no longer fits.
    from tests.audit.test_audit_store import tamper

    tamper(store.url, f"UPDATE audit_log SET hash = '{'0' * 64}' WHERE seq = 5")
    after = consistency(store, 30)
    assert after["old_root"] != kept["root"]


def test_proofs_taken_while_the_sink_appends_always_verify(store: AuditStore) -> None:
    """The log grows between the reads of a proof: every record proved is in the tree proved
    against, and the tree's root is the root of that many records (once failed as ``leaf 263 is
    not in a tree of 263``)."""
    import threading

    stop = threading.Event()

    def sink() -> None:
        i = 100
        while not stop.is_set():
            store.append([AuditEvent(f"x{i}", "routed", T0, message_id="m3", conversation_id="m3")])
            i += 1

    writer = threading.Thread(target=sink)
    writer.start()
    try:
        sizes = set()
        for _ in range(40):
            proof = prove(store, "m3", key=None)
            size, root = proof["tree_size"], bytes.fromhex(proof["root"])
            sizes.add(size)
            assert proof["records"] and all(r["seq"] <= size for r in proof["records"])
            for r in proof["records"]:
                leaf = merkle.leaf_hash(r["hash"].encode())
                path = [bytes.fromhex(p) for p in r["proof"]]
                assert merkle.verify_inclusion(r["leaf_index"], size, leaf, path, root)
            c = consistency(store, 30)
            assert merkle.verify_consistency(
                30, c["tree_size"], bytes.fromhex(c["old_root"]), bytes.fromhex(c["root"]),
                [bytes.fromhex(p) for p in c["proof"]],
            )  # fmt: skip
    finally:
        stop.set()
        writer.join()
    assert len(sizes) > 1, "the sink never appended while proving: the test proved nothing"
