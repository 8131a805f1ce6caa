"""The hash chain and checkpoints, without a database: every kind of tampering is named."""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.audit.chain import (
    GENESIS,
    Checkpoint,
    canonical,
    json_text,
    record_hash,
    sign_checkpoint,
    verify_chain,
)
from hub.core.clock import iso_ms
from hub.trust.keys import SigningKey

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 6, 18, 2, 0, tzinfo=UTC)


def make_chain(n: int) -> list[dict]:
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        rec = {
            "seq": i,
            "event_id": f"submitted:{i:032x}",
            "kind": "submitted",
            "occurred_at": iso_ms(T0 + timedelta(seconds=i)),
            "recorded_at": iso_ms(T0 + timedelta(seconds=i, milliseconds=5)),
            "message_id": f"m-{i}",
            "conversation_id": f"m-{i}",
            "family": "clue_transfer",
            "sender": "MIB@350582",
            "recipient": "PSB@350582",
            "routed_to": None,
            "status": None,
            "signed": None,
            "facts": json_text({"source": f"hub.ingress/0@{i}"}),
        }
        rec["prev_hash"] = prev
        rec["hash"] = prev = record_hash(prev, rec)
        out.append(rec)
    return out


def rechain(records: list[dict], start: int = 0) -> None:
    """What a careful forger does after an edit: recompute every later hash."""
    prev = records[start - 1]["hash"] if start else GENESIS
    for rec in records[start:]:
        rec["prev_hash"] = prev
        rec["hash"] = prev = record_hash(prev, rec)


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


def trusted(key: SigningKey):
    return lambda kid: key.public if kid == key.key_id else None


def test_intact_chain_verifies_with_checkpoints(key: SigningKey) -> None:
    recs = make_chain(20)
    cps = [sign_checkpoint(key, 10, recs[9]["hash"], "2024-06-18T02:00:10.000Z")]
    v = verify_chain(recs, cps, trusted(key))
    assert v.ok and v.records == 20 and v.checkpoints == 1
    assert v.uncovered == 10
    assert v.head_hash == recs[-1]["hash"]


def test_empty_log_is_intact(key: SigningKey) -> None:
    v = verify_chain([], [], trusted(key))
    assert v.ok and v.records == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("sender", "MIB@350583"),  # one character
        ("facts", json_text({"source": "hub.ingress/0@99"})),
        ("occurred_at", "2024-06-18T02:00:06.001Z"),
        ("status", "CLOSED"),
        ("signed", "{}"),
    ],
)
def test_altered_record_is_named(column: str, value: str, key: SigningKey) -> None:
    recs = make_chain(10)
    recs[5][column] = value
    v = verify_chain(recs, [], trusted(key))
    assert not v.ok
    assert v.problem.seq == 6 and "altered" in v.problem.what
    assert v.problem.event_id == recs[5]["event_id"]


def test_deleted_record_is_named(key: SigningKey) -> None:
    recs = make_chain(10)
    del recs[3]  # record #4
    v = verify_chain(recs, [], trusted(key))
    assert not v.ok and v.problem.seq == 4 and "missing" in v.problem.what


def test_deleted_and_renumbered_is_caught_at_the_gap(key: SigningKey) -> None:
    recs = make_chain(10)
    del recs[3]
    for rec in recs[3:]:
        rec["seq"] -= 1
    v = verify_chain(recs, [], trusted(key))
    assert not v.ok and v.problem.seq == 4


def test_inserted_record_is_named(key: SigningKey) -> None:
    recs = make_chain(10)
    forged = copy.deepcopy(recs[4])
    forged["event_id"] = "submitted:forged"
    forged["message_id"] = "m-forged"
    for rec in recs[5:]:
        rec["seq"] += 1
    forged["seq"] = 6
    forged["prev_hash"] = recs[4]["hash"]
    forged["hash"] = record_hash(forged["prev_hash"], forged)  # a careful forger
    recs.insert(5, forged)
    v = verify_chain(recs, [], trusted(key))
    assert not v.ok and v.problem.seq == 6 and "inserted" in v.problem.what


def test_reordered_records_are_named(key: SigningKey) -> None:
    recs = make_chain(10)
    recs[4], recs[5] = recs[5], recs[4]
    recs[4]["seq"], recs[5]["seq"] = 5, 6
    v = verify_chain(recs, [], trusted(key))
    assert not v.ok and v.problem.seq == 5


def test_rewritten_chain_is_caught_by_the_checkpoint(key: SigningKey) -> None:
    recs = make_chain(10)
    cp = sign_checkpoint(key, 8, recs[7]["hash"], "2024-06-18T03:00:00.000Z")
    recs[2]["recipient"] = "PSB@350583"
    rechain(recs, 2)  # every hash consistent again: only the signature knows
    assert verify_chain(recs, [], trusted(key)).ok
    v = verify_chain(recs, [cp], trusted(key))
    assert not v.ok and v.problem.seq == 8 and "rewritten" in v.problem.what


def test_truncation_under_a_checkpoint_is_caught(key: SigningKey) -> None:
    recs = make_chain(10)
    cp = sign_checkpoint(key, 10, recs[9]["hash"], "2024-06-18T03:00:00.000Z")
    v = verify_chain(recs[:7], [cp], trusted(key))
    assert not v.ok and v.problem.seq == 8 and "gone" in v.problem.what


def test_forged_or_untrusted_checkpoints_fail(key: SigningKey) -> None:
    recs = make_chain(5)
    good = sign_checkpoint(key, 5, recs[4]["hash"], "2024-06-18T03:00:00.000Z")
    forged = Checkpoint(5, "0" * 64, good.signed_at, good.key_id, good.signature)
    v = verify_chain(recs, [forged], trusted(key))
    assert not v.ok and "does not verify" in v.problem.what
    stranger = SigningKey.generate()
    other = sign_checkpoint(stranger, 5, recs[4]["hash"], good.signed_at)
    v = verify_chain(recs, [other], trusted(key))
    assert not v.ok and "untrusted" in v.problem.what


def test_checkpoint_json_round_trip(key: SigningKey) -> None:
    cp = sign_checkpoint(key, 3, "ab" * 32, "2024-06-18T03:00:00.000Z")
    assert Checkpoint.from_json(cp.to_json()) == cp


def test_canonical_form_is_stable_and_ascii() -> None:
    rec = make_chain(1)[0]
    rec["facts"] = json_text({"note": "泉州"})
    text = canonical(rec)
    assert text.isascii()
    assert text == canonical(dict(reversed(list(rec.items()))))


def test_outsider_verifier_agrees(tmp_path: Path, key: SigningKey) -> None:
    """ops/audit/verify_export.py (stdlib) accepts a good export and names a bad record."""
    from hub.audit.events import AuditEvent
    from hub.audit.export import export
    from hub.audit.store import AuditStore

    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.append(
        [
            AuditEvent(
                f"e{i}",
                "submitted",
                T0 + timedelta(seconds=i),
                message_id=f"m{i}",
                facts={"clue": "线索", "n": str(i)},
            )
            for i in range(25)
        ]
    )
    store.checkpoint(key)
    keys = {key.key_id: {"address": "HUB@100000", "public_key": key.public_b64}}
    out = tmp_path / "export"
    manifest = export(store, out, checkpoint_keys=keys)
    assert manifest["records"] == 25 and manifest["checkpoints"] == 1

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "ops" / "audit" / "verify_export.py"), str(out)],
            capture_output=True,
            text=True,
        )

    ok = run()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "25 records intact" in ok.stdout and "1 checkpoints verified" in ok.stdout

    # Edit one record in the JSONL and fix up the manifest's file hash, as a forger would.
    import hashlib
    import json

    lines = (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    rec = json.loads(lines[11])
    rec["message_id"] = "m99"
    lines[11] = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
    (out / "audit.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = run()
    assert bad.returncode == 1 and "audit.jsonl does not match" in bad.stdout
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    m["files"]["audit.jsonl"]["sha256"] = hashlib.sha256(
        (out / "audit.jsonl").read_bytes()
    ).hexdigest()
    (out / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    bad = run()
    assert bad.returncode == 1
    assert "record #12" in bad.stdout and "does not match its hash" in bad.stdout
