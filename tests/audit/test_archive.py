"""A month of the audit log archived into signed, self-verifying files: the outsider's verifier
accepts it with nothing from the hub, rebuilds the whole log's root from the frontier and the
month alone, and refuses an archive whose records, extracts or manifest were touched."""

from __future__ import annotations

import json
import os
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


def test_pruned_months_leave_the_tree_the_chain_and_the_heads_as_they_were(
    tmp_path: Path,
) -> None:
    from sqlalchemy.exc import DatabaseError

    from hub.audit.chain import verify_chain
    from hub.audit.keys import checkpoint_keys
    from hub.audit.prune import PruneError, prune
    from hub.audit.pruned import pruned_hash, pruned_start
    from hub.audit.transparency import consistency

    world = World(tmp_path)
    ops = world.rig.key("HUB@100000")
    world.audit.append(events(7), now=OCT)
    world.audit.checkpoint(ops)
    world.audit.append(events(11, 7), now=NOV)
    world.audit.checkpoint(ops)
    world.audit.append(events(5, 18), now=DEC)
    world.tick()
    assert world.observe_all() == ["first"]
    root_before = consistency(world.audit, 23)["root"]
    folders = {}
    for month in ("2026-10", "2026-11"):
        folders[month] = tmp_path / month
        write_archive(world.audit, folders[month], month, ops)

    def trusted(key_id: str):
        return ops.public if key_id == ops.key_id else None

    with pytest.raises(PruneError, match="nothing is pruned yet"):
        prune(world.audit, folders["2026-11"], trusted)  # months go in order
    with pytest.raises(PruneError, match="not signed by a key of the operators"):
        prune(world.audit, folders["2026-10"], lambda _: None)
    assert prune(world.audit, folders["2026-10"], trusted).deleted == 7
    assert prune(world.audit, folders["2026-11"], trusted).deleted == 11
    assert prune(world.audit, folders["2026-11"], trusted).deleted == 0  # done already

    assert world.audit.count() == 23 and pruned_start(world.audit)[0] == 18
    assert [r["seq"] for r in world.audit.records()] == [19, 20, 21, 22, 23]
    # The tree is the same tree: same root, and the archive's root is provably a prefix of it.
    assert consistency(world.audit, 23)["root"] == root_before
    nov = json.loads((folders["2026-11"] / "manifest.json").read_text())
    assert consistency(world.audit, 18)["old_root"] == nov["root"]
    # The chain goes on from the last pruned hash, and verifies with both checkpoints.
    world.audit.append(events(3, 23), now=DEC)
    keys = checkpoint_keys(world.rig.services.directory.current, [])
    kept, start = pruned_hash(world.audit), pruned_start(world.audit)
    verdict = verify_chain(
        world.audit.records(), world.audit.checkpoints(), keys, pruned=kept, start=start
    )
    assert verdict.ok, verdict.problem
    assert (verdict.head_seq, verdict.checkpoints, verdict.records) == (26, 2, 8)
    # Connectors see the next head as consistent with the one they kept before the pruning.
    world.tick()
    assert world.observe_all() == ["consistent"]
    # The database refuses to delete a record no archive covers.
    with pytest.raises(DatabaseError), world.audit.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_log WHERE seq = 20")
    assert verify(folders["2026-11"]).returncode == 0  # and the archives still verify alone


@pytest.mark.postgres
def test_on_postgresql_the_guard_lets_only_archived_records_go(tmp_path: Path) -> None:
    from sqlalchemy.exc import DatabaseError

    from hub.audit.prune import prune
    from hub.audit.store import AuditStore
    from hub.trust.keys import SigningKey
    from tests.databases import postgres_database

    key = SigningKey.generate()
    with postgres_database() as url:
        store = AuditStore(url)
        store.append(events(4), now=OCT)
        store.append(events(3, 4), now=NOV)
        write_archive(store, tmp_path / "oct", "2026-10", key)
        with pytest.raises(DatabaseError), store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_log WHERE seq = 1")  # not pruned yet
        trusted = {key.key_id: key.public}.get
        assert prune(store, tmp_path / "oct", trusted).deleted == 4
        assert [r["seq"] for r in store.records()] == [5, 6, 7] and store.count() == 7
        with pytest.raises(DatabaseError), store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_log WHERE seq = 5")  # November is not
        with pytest.raises(DatabaseError), store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_pruned WHERE seq = 1")  # append-only
        store.close()


def test_an_export_after_pruning_verifies_and_still_proves_later_records(tmp_path: Path) -> None:
    from hub.audit.export import export
    from hub.audit.prune import prune
    from hub.audit.transparency import prove

    world = World(tmp_path)
    ops = world.rig.key("HUB@100000")
    world.audit.append(events(6), now=OCT)
    world.audit.checkpoint(ops)
    world.audit.append(events(4, 6), now=NOV)
    world.audit.checkpoint(ops)
    write_archive(world.audit, tmp_path / "oct", "2026-10", ops)
    prune(world.audit, tmp_path / "oct", {ops.key_id: ops.public}.get)
    keys = {ops.key_id: {"public_key": ops.public_b64}}
    manifest = export(world.audit, tmp_path / "export", checkpoint_keys=keys)
    assert (manifest["pruned"], manifest["records"]) == (6, 4)
    proof = prove(world.audit, "msg-8", key=ops)
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    done = verify(tmp_path / "export", "--prove", str(tmp_path / "proof.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 records intact" in done.stdout and "2 checkpoints verified" in done.stdout


def resign(out: Path, key) -> None:  # type: ignore[no-untyped-def]
    """What the operators alone can do to an archive: change files, re-digest, re-sign."""
    import base64

    from hub.audit.export import digest_file
    from hub.trust import suites

    manifest = json.loads((out / "manifest.json").read_text())
    suite = suites.by_hash_name(manifest["hash"])
    assert suite is not None
    manifest["files"] = {name: digest_file(out / name, suite) for name in manifest["files"]}
    body = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
    (out / "manifest.json").write_bytes(body)
    sig = {"key_id": key.key_id, "signature": base64.b64encode(key.sign(body)).decode()}
    (out / "manifest.sig").write_text(json.dumps(sig) + "\n")


@pytest.fixture
def cosigned(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A November archive with a head at size 12 cosigned by MIB and PSB, and a TSA token."""
    from consumers.timestamper import Timestamper
    from hub.audit.cosignatures import cosign, cosigned_note, note_body
    from hub.audit.timestamps import TimestampClient
    from hub.audit.transparency import origin_of, signed_checkpoint
    from tests.tsa import LocalTsa

    world = World(tmp_path)
    ops = world.rig.key("HUB@100000")
    world.audit.append(events(7), now=OCT)
    world.audit.append(events(5, 7), now=NOV)
    world.audit.checkpoint(ops, now=NOV)
    world.audit.append(events(6, 12), now=NOV)
    tree = merkle.StreamedTree(12, merkle.sha256)
    tree.want_root()
    tree.feed(leaves(world.audit, 12))
    checkpoint = signed_checkpoint(origin_of(world.audit.suite), 12, tree.root(), ops)
    lines = [cosign(note_body(checkpoint), world.rig.key(a), 1_790_000_000)
             for a in ("MIB@350582", "PSB@350582")]  # fmt: skip
    head = {"tree_size": 12, "agencies": ["MIB@350582", "PSB@350582"],
            "note": cosigned_note(checkpoint, lines)}  # fmt: skip
    with LocalTsa() as tsa:
        assert Timestamper(world.audit, TimestampClient(tsa.url), interval_s=60).once() == 1
        out = tmp_path / "archive"
        write_archive(world.audit, out, "2026-11", ops, heads=lambda first, last: [head])
        settings = world.rig.settings
        trust = ("--directory", str(settings.directory_path),
                 "--anchor", str(settings.directory_anchor_path))  # fmt: skip
        yield world, out, ops, trust, tsa


def test_an_archives_cosignatures_count_only_when_each_verifies_with_the_directorys_keys(
    cosigned,  # type: ignore[no-untyped-def]
) -> None:
    _, out, _, trust, tsa = cosigned
    done = verify(out, *trust, "--tsa-ca", str(tsa.ca))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "head 12: cosigned by MIB@350582, PSB@350582 (each cosignature verified)" in done.stdout
    assert "1 tokens date their checkpoints (verified with openssl ts -verify)" in done.stdout
    bare = verify(out)
    assert bare.returncode == 0 and "cosignatures NOT checked" in bare.stdout


@pytest.mark.parametrize("forgery", ["invented agency key", "altered signature",
                                     "agency listed without a line", "head off the log",
                                     "token over other bytes"])  # fmt: skip
def test_an_archive_with_forged_cosignatures_or_tokens_is_rejected_though_the_operators_re_signed(
    cosigned,
    forgery: str,  # type: ignore[no-untyped-def]
) -> None:
    """Issue 30.4: the operators alone, re-signing the manifest, cannot make the outsider's
    verifier vouch for a head no agency cosigned, or for a token over other bytes."""
    import base64

    from hub.audit.cosignatures import cosign, note_body
    from hub.trust.keys import SigningKey

    world, out, ops, trust, tsa = cosigned
    path = out / "heads.jsonl"
    head = json.loads(path.read_text())
    if forgery == "invented agency key":  # a key of their own, said to be CDI's
        fake = cosign(note_body(head["note"]), SigningKey.generate(), 1_790_000_000)
        head["note"] += fake + "\n"
        head["agencies"].append("CDI@350582")
    elif forgery == "altered signature":
        lines = head["note"].split("\n")
        last = [i for i, line in enumerate(lines) if "MIB" not in line and line][-1]
        parts = lines[last].split(" ")
        blob = bytearray(base64.b64decode(parts[2]))
        blob[-1] ^= 1
        lines[last] = " ".join([*parts[:2], base64.b64encode(bytes(blob)).decode()])
        head["note"] = "\n".join(lines)
    elif forgery == "agency listed without a line":
        head["agencies"].append("CDI@350582")
    elif forgery == "head off the log":
        from hub.audit.transparency import origin_of, signed_checkpoint

        head["note"] = signed_checkpoint(origin_of(world.audit.suite), 12, b"\x00" * 32, ops)
        head["agencies"] = []
    else:
        dat = next((out / "timestamps").glob("*.dat"))
        dat.write_bytes(dat.read_bytes() + b" ")
    path.write_text(json.dumps(head, ensure_ascii=False, separators=(",", ":")) + "\n")
    resign(out, ops)
    done = verify(out, *trust, "--tsa-ca", str(tsa.ca))
    assert done.returncode == 1 and "FAILED" in done.stdout, done.stdout + done.stderr


def test_a_month_that_has_not_ended_in_beijing_time_is_not_archived(tmp_path: Path) -> None:
    """Issue 30.5: records still to come in the month would be in no archive."""
    from hub.audit.archive import month_bounds

    world = World(tmp_path)
    world.audit.append(events(3), now=NOV)
    ops = world.rig.key("HUB@100000")
    start, end = month_bounds("2026-11")
    assert (start, end) == (datetime(2026, 10, 31, 16, tzinfo=UTC),
                            datetime(2026, 11, 30, 16, tzinfo=UTC))  # fmt: skip
    late = datetime(2026, 11, 30, 15, 59, tzinfo=UTC)  # 23:59 on the 30th in Beijing
    with pytest.raises(ValueError, match=r"2026-11 has not ended \(it ends 2026-12-01 00:00"):
        write_archive(world.audit, tmp_path / "early", "2026-11", ops, now=late)
    assert not (tmp_path / "early").exists()
    write_archive(world.audit, tmp_path / "ok", "2026-11", ops, now=end)


def test_pruning_says_what_it_did_and_refuses_another_archive_of_a_pruned_month(
    tmp_path: Path,
) -> None:
    """Issue 30.5: a second archive of the same month is not the one pruned: prune refuses it
    instead of reporting 0 records pruned "the archive holds them"."""
    from hub.audit.prune import PruneError, prune

    world = World(tmp_path)
    ops = world.rig.key("HUB@100000")
    world.audit.append(events(4), now=OCT)
    world.audit.append(events(3, 4), now=NOV)

    def trusted(key_id: str):  # type: ignore[no-untyped-def]
        return ops.public if key_id == ops.key_id else None

    write_archive(world.audit, tmp_path / "oct", "2026-10", ops)
    first = prune(world.audit, tmp_path / "oct", trusted)
    assert (first.deleted, first.before) == (4, False)
    again = prune(world.audit, tmp_path / "oct", trusted)
    assert (again.deleted, again.before, again.last_seq) == (0, True, 4)
    # A second archive of October, written after more October records arrived late.
    world.audit.append(events(2, 7), now=OCT)
    write_archive(world.audit, tmp_path / "oct-2", "2026-10", ops)
    with pytest.raises(PruneError, match="was pruned from another archive of it"):
        prune(world.audit, tmp_path / "oct-2", trusted)


def test_a_pruned_hand_off_is_found_in_its_archive_verified_and_a_touched_one_is_not(
    tmp_path: Path,
) -> None:
    from hub.audit.archived import find_archived
    from hub.audit.prune import prune

    world = World(tmp_path)
    ops = world.rig.key("HUB@100000")
    world.audit.append(events(7), now=OCT)
    world.audit.append(events(5, 7), now=DEC)
    archives = tmp_path / "archives"
    write_archive(world.audit, archives / "2026-10", "2026-10", ops)
    prune(world.audit, archives / "2026-10", lambda k: ops.public if k == ops.key_id else None)
    assert world.audit.trail("msg-3") == []  # gone from the live log

    [found] = find_archived(world.audit, archives, "msg-3")
    assert found.month == "2026-10" and found.verified
    assert [r["message_id"] for r in found.records] == ["msg-3"]
    assert "来自 2026-10 归档" in found.label() and "verified" in found.label()
    assert find_archived(world.audit, archives, "msg-9") == []  # live, not archived
    assert find_archived(world.audit, tmp_path / "elsewhere", "msg-3") == []

    # One byte of another record changed: the file is no longer the one the month was pruned
    # with, and the case says so rather than passing it off as verified.
    records = archives / "2026-10" / "records.jsonl"
    records.write_text(records.read_text().replace("msg-5", "msg-6", 1))
    [touched] = find_archived(world.audit, archives, "msg-3")
    assert not touched.verified and "records.jsonl" in touched.problem

    # `hub audit trail` finds it too, as an officer's script would ask.
    records.write_text(records.read_text().replace("msg-6", "msg-5", 1))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
           "HUB_HOME": str(tmp_path / "hub"), "HUB_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
           "HUB_AUDIT_ARCHIVE_DIR": str(archives)}  # fmt: skip
    shown = subprocess.run([sys.executable, "-m", "hub.cli", "audit", "trail", "msg-3"],
                           env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "来自 2026-10 归档 from the 2026-10 archive, 已核验 verified" in shown.stdout
    as_json = subprocess.run([sys.executable, "-m", "hub.cli", "audit", "trail", "msg-3", "--json"],
                             env=env, capture_output=True, text=True, check=False)  # fmt: skip
    [record] = json.loads(as_json.stdout)
    assert (
        record["archive"] == "2026-10" and record["verified"] and isinstance(record["facts"], dict)
    )
