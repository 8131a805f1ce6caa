"""Agencies cosign the tree heads they checked (C2SP tlog-cosignature), the hub keeps only
cosignatures that verify against the cosigner's own key, counts independent agencies per head,
and a head pinned in the signed directory replaces trust on first use."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from connectors.witness import TreeHeadWitness
from hub.audit.cosignatures import (
    CosignatureError,
    check_record,
    cosign,
    note_body,
    open_cosignature,
    record_of,
)
from hub.audit.transparency import ORIGIN
from hub.audit.witnesses import witnessed_head
from hub.storage.cosignatures import CosignatureRows
from hub.trust.keys import SigningKey
from hub.trust.pinned import PinnedHead
from tests.runtime.test_tree_heads import World, events

T = 1_796_000_000


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def published(world: World, n: int) -> tuple[int, str]:
    """Grow the log by ``n`` records and publish a head; (size, signed checkpoint)."""
    world.audit.append(events(n, world.audit.count()))
    world.tick()
    head = world.heads.latest()
    assert head is not None
    return head.tree_size, str(head.payload["checkpoint"])


def checkpoint_of(world: World):
    def of(size: int) -> tuple[str, str] | None:
        head = world.heads.at(size)
        return None if head is None else (head.root_hash, str(head.payload["checkpoint"]))

    return of


def test_an_ed25519_cosignature_is_the_c2sp_one_and_verifies_without_hub_code() -> None:
    key = SigningKey.generate("intl")
    body = f"{ORIGIN}\n7\n{base64.b64encode(bytes(32)).decode()}\n"
    line = cosign(body, key, T)
    dash, name, b64 = line.split(" ")
    blob = base64.b64decode(b64)
    raw = key.public.raw
    assert dash == "\u2014" and name == key.key_id
    # The spec's key ID (type 0x04), its big-endian time, and its message, computed here.
    assert blob[:4] == hashlib.sha256(name.encode() + b"\n\x04" + raw).digest()[:4]
    assert int.from_bytes(blob[4:12], "big") == T
    message = f"cosignature/v1\ntime {T}\n{body}".encode()
    Ed25519PublicKey.from_public_bytes(raw).verify(blob[12:], message)  # raises if not
    assert open_cosignature(line, body, key.public) == T


@pytest.mark.parametrize("suite", ["intl", "gm"])
def test_a_cosignature_fails_on_another_head_or_another_key(suite: str) -> None:
    key, other = SigningKey.generate(suite), SigningKey.generate(suite)
    body = f"{ORIGIN}\n7\n{base64.b64encode(bytes(32)).decode()}\n"
    line = cosign(body, key, T)
    assert open_cosignature(line, body, key.public) == T
    with pytest.raises(CosignatureError):
        open_cosignature(line, body.replace("\n7\n", "\n8\n"), key.public)
    with pytest.raises(CosignatureError):
        open_cosignature(line.replace(key.key_id, other.key_id), body, other.public)
    later = line.split(" ")
    blob = bytearray(base64.b64decode(later[2]))
    blob[11] ^= 1  # another time than the one signed
    later[2] = base64.b64encode(bytes(blob)).decode()
    with pytest.raises(CosignatureError):
        open_cosignature(" ".join(later), body, key.public)


def test_the_hub_keeps_a_cosignature_only_from_the_cosigners_own_key_on_a_head_it_published(
    world: World,
) -> None:
    size, checkpoint = published(world, 5)
    directory = world.rig.services.directory.current
    psb, mib = world.rig.key("PSB@350582"), world.rig.key("MIB@350582")
    line = cosign(note_body(checkpoint), psb, T)
    of = checkpoint_of(world)
    kept = check_record(record_of("PSB@350582", size, line), of, directory)
    assert (kept.cosigner, kept.tree_size, kept.key_id, kept.timestamp) == (
        "PSB@350582", size, psb.key_id, T,
    )  # fmt: skip
    refusals = {
        "malformed": b"{not json",
        "unknown_head": record_of("PSB@350582", size + 1, line),
        # PSB's cosignature claimed for MIB: a key of another agency
        "unknown_key": record_of("MIB@350582", size, line),
        "operators": record_of("HUB@100000", size, cosign(note_body(checkpoint), mib, T)),
        "bad_signature": record_of("PSB@350582", size, line[:-6] + "AAAAA="),
    }
    for reason, value in refusals.items():
        with pytest.raises(CosignatureError) as caught:
            check_record(value, of, directory)
        assert caught.value.reason == reason, reason


def test_a_head_counts_each_agency_once_and_a_forged_row_not_at_all(world: World) -> None:
    size, checkpoint = published(world, 6)
    rows = CosignatureRows(world.rig.services.store.engine)
    body = note_body(checkpoint)
    for who in ("PSB@350582", "MIB@350582", "PSB@350582"):
        c = check_record(record_of(who, size, cosign(body, world.rig.key(who), T)),
                         checkpoint_of(world), world.rig.services.directory.current)  # fmt: skip
        rows.record(c.tree_size, c.key_id, c.cosigner, c.root_hash, c.timestamp, c.line)
    # A row written straight into the database, claiming CDI vouched with PSB's line.
    psb_line = rows.of_head(size)[1][2]
    rows.record(size, "ed25519:forged", "CDI@350582", "00", T, psb_line)
    w = witnessed_head(world.heads, rows, world.rig.services.directory.current, world.audit)
    assert w.problem == "" and w.tree_size == size
    assert sorted(w.agencies) == ["MIB@350582", "PSB@350582"] and w.refused == 1
    assert w.note.startswith(checkpoint.rstrip("\n")) and w.note.count("\u2014") == 3


def test_a_rewritten_log_is_not_witnessed_however_many_cosigned(world: World) -> None:
    size, checkpoint = published(world, 4)
    rows = CosignatureRows(world.rig.services.store.engine)
    line = cosign(note_body(checkpoint), world.rig.key("PSB@350582"), T)
    c = check_record(record_of("PSB@350582", size, line), checkpoint_of(world),
                     world.rig.services.directory.current)  # fmt: skip
    rows.record(c.tree_size, c.key_id, c.cosigner, c.root_hash, c.timestamp, c.line)
    with world.audit.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
        conn.exec_driver_sql("UPDATE audit_log SET hash = 'x' || substr(hash, 2) WHERE seq = 2")
    w = witnessed_head(world.heads, rows, world.rig.services.directory.current, world.audit)
    assert "another root" in w.problem


def test_a_head_pinned_in_the_directory_replaces_trust_on_first_use(
    world: World, tmp_path: Path
) -> None:
    size, _ = published(world, 5)
    head = world.heads.latest()
    assert head is not None
    authority = world.rig.authority
    current = authority.current()
    pinned = authority.publish(
        replace(current, audit_heads=(PinnedHead(ORIGIN, size, head.root_hash),)), base=current
    )
    assert json.loads(json.dumps(pinned.to_json()))["audit_heads"][0]["tree_size"] == size
    directory = world.rig.services.directory
    directory.reload_if_changed()
    assert directory.current.audit_heads == pinned.audit_heads
    fresh = TreeHeadWitness(tmp_path / "fresh.db")
    world.read = 0  # the new connector reads PSB's heads from the start
    assert [fresh.observe(m, directory.current).kind for m in world.psb_heads()] == ["same"]
    published(world, 2)
    assert [fresh.observe(m, directory.current).kind for m in world.psb_heads()] == ["consistent"]
    # A head that does not extend the pinned one is refused, not taken on trust.
    other = TreeHeadWitness(tmp_path / "other.db")
    forged = replace(pinned, audit_heads=(PinnedHead(ORIGIN, size, "ab" * 32),))
    world.read = 0
    verdicts = []
    for m in world.psb_heads():
        try:
            verdicts.append(other.observe(m, forged).kind)
        except Exception as exc:
            verdicts.append(type(exc).__name__)
    assert verdicts == ["TreeHeadMismatch", "TreeHeadMismatch"]


def test_witnesses_asked_where_no_hub_ran_are_refused_with_a_reason_not_a_crash(
    tmp_path: Path,
) -> None:
    import os
    import subprocess
    import sys

    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
           "HUB_HOME": str(tmp_path)}  # fmt: skip
    for args in (("audit", "verify", "--witnesses", "1"), ("audit", "head")):
        done = subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert "no hub store in" in done.stdout + done.stderr and "Traceback" not in done.stderr
