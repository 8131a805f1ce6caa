"""A log started under the gm suite chains its records and builds its tree with SM3 and is
checkpointed with SM2; a log keeps the hash it started with whatever the setting says later; an
agency's witness checks an SM3 log's heads with SM3."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.witness import KeptHead, TreeHeadMismatch, check_head
from hub.audit.chain import GENESIS, canonical, verify_chain
from hub.audit.mac import AuditMac
from hub.audit.store import AuditStore
from hub.audit.transparency import consistency, open_checkpoint, origin_of, prove
from hub.core import merkle
from hub.trust import suites
from hub.trust.keys import SigningKey
from tests.audit.test_audit_store import events

GM, INTL = suites.GM, suites.INTL


def test_a_gm_log_chains_with_sm3_and_proves_inclusion_in_an_sm3_tree(tmp_path: Path) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}", new_log_suite="gm")
    store.append(events(9))
    assert store.suite is GM
    records = list(store.records())
    first = records[0]
    assert first["hash"] == GM.digest(GENESIS.encode() + b"\n" + canonical(first)).hex()
    assert first["hash"] != INTL.digest(GENESIS.encode() + b"\n" + canonical(first)).hex()
    assert verify_chain(store.records(), [], lambda _k: None, suite=GM).ok
    assert not verify_chain(store.records(), [], lambda _k: None, suite=INTL).ok

    key = SigningKey.generate("gm")
    proof = prove(store, "msg-4", key=key)
    assert proof["scheme"] == "rfc9162-sm3"
    root, (rec,) = bytes.fromhex(proof["root"]), proof["records"]
    path = [bytes.fromhex(p) for p in rec["proof"]]
    leaf = merkle.leaf_hash(rec["hash"].encode(), GM.digest)
    assert merkle.verify_inclusion(rec["leaf_index"], 9, leaf, path, root, GM.digest)
    sha_leaf = merkle.leaf_hash(rec["hash"].encode())
    assert not merkle.verify_inclusion(rec["leaf_index"], 9, sha_leaf, path, root)
    origin, size, signed_root = open_checkpoint(proof["checkpoint"], key.key_id, key.public.raw)
    assert (origin, size, signed_root) == ("medfund-hub/audit-sm3", 9, root)


def test_a_log_keeps_the_hash_it_started_with(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    AuditStore(url).append(events(3))  # started under intl
    later = AuditStore(url, new_log_suite="gm")  # the deployment moved to gm since
    assert later.suite is INTL
    later.append(events(3, start=3))
    assert verify_chain(later.records(), [], lambda _k: None, suite=INTL).ok
    assert AuditStore(f"sqlite:///{tmp_path / 'b.db'}", new_log_suite="gm").suite is GM


def test_an_agency_checks_an_sm3_logs_heads_with_sm3(tmp_path: Path) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}", new_log_suite="gm")
    key = SigningKey.generate("gm")
    keys = [(key.key_id, key.public.raw)]
    store.append(events(5))
    first = prove(store, "msg-0", key=key)
    kept = KeptHead(origin_of(GM), 5, first["root"], first["checkpoint"])
    store.append(events(6, start=5))
    later = prove(store, "msg-0", key=key)
    proof = consistency(store, 5)
    payload = {"origin": origin_of(GM), "tree_size": 11, "root_hash": later["root"],
               "checkpoint": later["checkpoint"],
               "proofs": [{"old_size": 5, "old_root": proof["old_root"],
                           "path": proof["proof"]}]}  # fmt: skip
    assert check_head(kept, payload, keys).kind == "consistent"
    altered = [("0" if proof["proof"][0][0] != "0" else "1") + proof["proof"][0][1:],
               *proof["proof"][1:]]  # fmt: skip
    forged = {**payload, "proofs": [{**payload["proofs"][0], "path": altered}]}
    with pytest.raises(TreeHeadMismatch):
        check_head(kept, forged, keys)


def test_audit_macs_follow_the_suite() -> None:
    key = bytes(range(32))
    gm, intl = AuditMac(key, "gm"), AuditMac(key, "intl")
    assert gm.tag(b"record") != intl.tag(b"record")
    assert gm.verify(b"record", gm.tag(b"record"))
    assert not gm.verify(b"record", intl.tag(b"record"))
    assert gm.tag(b"record") == GM.mac(key, b"record").hex().encode()


def test_an_outsider_verifies_a_gm_export_and_proof_without_the_hub(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from hub.audit.export import export

    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}", new_log_suite="gm")
    store.append(events(12))
    key = SigningKey.generate("gm")
    store.checkpoint(key)
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(prove(store, "msg-7", key=key)))
    keys = {key.key_id: {"address": "HUB@100000", "public_key": key.public_b64}}
    manifest = export(store, tmp_path / "export", checkpoint_keys=keys)
    assert manifest["hash"] == "sm3" and "sm3" in manifest["files"]["audit.jsonl"]

    def verify() -> subprocess.CompletedProcess:
        script = Path(__file__).resolve().parents[2] / "ops" / "audit" / "verify_export.py"
        return subprocess.run([sys.executable, str(script), str(tmp_path / "export"),
                               "--prove", str(proof)], capture_output=True, text=True)  # fmt: skip

    ok = verify()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 checkpoints verified" in ok.stdout and "1 records included" in ok.stdout
    checkpoints = tmp_path / "export" / "checkpoints.jsonl"
    cp = json.loads(checkpoints.read_text())
    cp["signature"] = ("0" if cp["signature"][10] != "0" else "1").join(
        (cp["signature"][:10], cp["signature"][11:])
    )
    checkpoints.write_text(json.dumps(cp) + "\n")
    manifest["files"]["checkpoints.jsonl"]["sm3"] = GM.digest(checkpoints.read_bytes()).hex()
    (tmp_path / "export" / "manifest.json").write_text(json.dumps(manifest))
    bad = verify()
    assert bad.returncode == 1 and "signature does not verify" in bad.stdout
