"""A month of the audit log archived into signed, self-verifying files: the outsider's verifier
accepts it with nothing from the hub, rebuilds the whole log's root from the frontier and the
month alone, and refuses an archive whose records, extracts or manifest were touched."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.audit.archive import Frontier, seq_range, write_archive
from hub.audit.transparency import leaves
from hub.core import merkle
from tests.runtime.test_tree_heads import World, events

VERIFIER = Path(__file__).resolve().parents[2] / "ops" / "audit" / "verify_export.py"
OCT, NOV, DEC = (datetime(2026, m, 15, tzinfo=UTC) for m in (10, 11, 12))


def verify(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(VERIFIER), str(folder), *args],
                          capture_output=True, text=True, check=False)  # fmt: skip


@pytest.fixture
def archived(tmp_path: Path) -> tuple[World, Path, dict]:
    world = World(tmp_path)
    for n, month in ((7, OCT), (11, NOV), (5, DEC)):
        world.audit.append(events(n, world.audit.count()), now=month)
    world.audit.checkpoint(world.rig.key("HUB@100000"))  # in December: not the archive's
    out = tmp_path / "archive"
    manifest = write_archive(world.audit, out, "2026-11", world.rig.key("HUB@100000"))
    return world, out, manifest


def test_the_frontier_gives_rfc9162_roots_for_every_size() -> None:
    hashes = [merkle.leaf_hash(bytes([i])) for i in range(37)]
    f = Frontier(merkle.sha256)
    for i, h in enumerate(hashes, start=1):
        f.add(h)
        assert f.size == i and f.root() == merkle.root(hashes[:i])
    assert len(f.nodes) == bin(37).count("1")  # log-sized, whatever the month's length


def test_a_month_is_archived_and_verifies_with_nothing_from_the_hub(archived) -> None:
    world, out, manifest = archived
    assert seq_range(world.audit, "2026-11") == (8, 18)
    assert (manifest["first_seq"], manifest["last_seq"], manifest["records"]) == (8, 18, 11)
    tree = merkle.StreamedTree(18, merkle.sha256)
    tree.want_root()
    tree.feed(leaves(world.audit, 18))
    assert manifest["root"] == tree.root().hex()  # the live log's root at the month's end
    assert len(manifest["frontier"]) == bin(7).count("1")
    extracts = sorted(p.name for p in (out / "agencies").glob("*.jsonl"))
    assert extracts == ["MIB@350582.jsonl", "PSB@350582.jsonl"]
    done = verify(out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "records #8..#18 intact" in done.stdout and "2 agencies' records match" in done.stdout
    key = world.rig.key("HUB@100000")
    pinned = verify(out, "--key", f"{key.key_id}={key.public_b64}")
    assert pinned.returncode == 0 and "(--key)" in pinned.stdout


@pytest.mark.parametrize("tamper", ["record", "extract", "manifest", "unsigned key"])
def test_a_touched_archive_fails_verification(archived, tamper: str) -> None:
    world, out, _ = archived
    if tamper == "record":
        path = out / "records.jsonl"
        path.write_text(path.read_text().replace("msg-10", "msg-99", 1))
    elif tamper == "extract":
        path = out / "agencies" / "PSB@350582.jsonl"
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[:3] + lines[4:]))  # a record left out of PSB's extract
    elif tamper == "manifest":
        path = out / "manifest.json"
        path.write_text(path.read_text().replace('"records": 11', '"records": 12'))
    else:
        other = world.rig.key("PSB@350582")
        done = verify(out, "--key", f"{other.key_id}={other.public_b64}")
        assert done.returncode == 1  # the key given does not sign it; the manifest's would
        return
    done = verify(out)
    assert done.returncode == 1 and "FAILED" in done.stdout, done.stdout
    if tamper != "manifest":  # the digests catch it before the chain does
        assert "does not match the manifest" in done.stdout


def test_archiving_a_month_without_records_says_so(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.audit.append(events(3), now=OCT)
    with pytest.raises(ValueError, match="no record of 2026-11"):
        write_archive(world.audit, tmp_path / "a", "2026-11", world.rig.key("HUB@100000"))
    assert json.dumps(seq_range(world.audit, "2026-10")) == "[1, 3]"
