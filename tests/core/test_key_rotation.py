"""Key rotation and revocation: new keys take over, old messages stay valid and readable, a
revoked key is refused for anything new, and the directory refuses ids that do not name their key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.messages import encryption_target, open_record
from hub.core.clock import now_utc
from hub.runtime.ingress.pipeline import DEAD_LETTERED, DELIVERED
from hub.trust.address import Address
from hub.trust.directory import (
    Directory,
    DirectoryError,
    load_encryption_keys,
    load_signing_key,
)
from hub.trust.rotation import rotate_keys
from hub.trust.signed import sign_document
from tests.runtime.test_ingress_pipeline import Rig

MIB, CDI = Address.parse("MIB@350582"), Address.parse("CDI@350582")


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path / "hub")


def reload(rig: Rig) -> Directory:
    return rig.services.directory.refresh(force=True)


def test_after_a_rotation_new_keys_are_used_and_old_messages_still_pass_and_open(
    rig: Rig,
) -> None:
    old_signing = rig.key("MIB@350582").key_id
    _, before = rig.message("corruption_clue_handoff", to="CDI@350582")  # old keys
    new_ids = rotate_keys(rig.authority, rig.settings.keys_dir, CDI, signing=False, encryption=True)
    rotate_keys(rig.authority, rig.settings.keys_dir, MIB, signing=True, encryption=False)
    directory = reload(rig)
    cdi = directory.connectors[CDI]
    assert [k.status for k in cdi.encryption_keys] == ["retired", "active"]
    assert cdi.encryption_key().key_id == new_ids[0]
    assert encryption_target(directory, CDI)[0] == new_ids[0]
    new_signing = load_signing_key(rig.settings.keys_dir, MIB, directory)
    assert new_signing.key_id != old_signing
    # The message sealed before the rotation is still routed and still readable.
    assert rig.handle(rig.record(before)).kind == DELIVERED
    keys = load_encryption_keys(rig.settings.keys_dir, CDI, directory)
    assert len(keys) == 2
    [inbox] = rig.producer.on("hub.inbox.CDI")
    msg = open_record(rig.services.registry, directory, inbox, me=CDI, decryption_keys=keys)
    assert msg.payload["officials"]
    # And what is sent now uses the new keys.
    _, after = rig.message("corruption_clue_handoff", to="CDI@350582")
    assert rig.handle(rig.record(after)).kind == DELIVERED


def test_a_revoked_key_is_refused_for_anything_new(rig: Rig) -> None:
    signing = rig.key("MIB@350582").key_id
    _, signed_with_it = rig.message()
    rig.authority.revoke(signing, now_utc())
    reload(rig)
    outcome = rig.handle(rig.record(signed_with_it))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "bad_signature")
    enc = reload(rig).connectors[CDI].encryption_key()
    assert enc is not None
    _, for_cdi = rig.message("corruption_clue_handoff", sender="HEALTH@350582", to="CDI@350582")
    rig.authority.revoke(enc.key_id, now_utc())
    reload(rig)
    outcome = rig.handle(rig.record(for_cdi))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "encryption_mismatch")
    entry = reload(rig).connectors[CDI].encryption_keys[0]
    assert entry.status == "revoked" and entry.revoked_at


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda k: {**k, "key_id": "ed25519:0000000000000000"}, "does not match"),
        (lambda k: {**k, "status": "maybe"}, "is not one of"),
        (lambda k: {**k, "public_key": "not base64!"}, "not base64"),
    ],
    ids=["id of another key", "unknown status", "garbled key"],
)
def test_the_directory_refuses_a_key_entry_that_is_not_what_it_claims(
    rig: Rig, edit, message: str
) -> None:
    path = rig.settings.directory_path
    body = json.loads(path.read_text())["directory"]
    body["connectors"][0]["keys"][0] = edit(body["connectors"][0]["keys"][0])
    # Signed with the right key: what is refused is the entry, not the signature.
    path.write_text(json.dumps(sign_document(body, rig.authority.key)))
    with pytest.raises(DirectoryError, match=message):
        Directory.load(path, rig.authority.anchor)


def test_the_directory_refuses_a_key_registered_twice(rig: Rig) -> None:
    path = rig.settings.directory_path
    body = json.loads(path.read_text())["directory"]
    body["connectors"][1]["keys"].append(body["connectors"][0]["keys"][0])
    path.write_text(json.dumps(sign_document(body, rig.authority.key)))
    with pytest.raises(DirectoryError, match="registered twice"):
        Directory.load(path, rig.authority.anchor)


def test_the_command_line_rotates_lists_and_revokes(tmp_path: Path) -> None:
    from tests.cli.test_hygiene import hub

    home = tmp_path / "home"
    assert hub(home, "directory", "init").returncode == 0
    assert hub(home, "keys", "new", "MIB@350582").returncode == 0
    rotated = hub(home, "keys", "rotate", "MIB@350582")
    assert rotated.returncode == 0, rotated.stderr
    new_signing, new_encryption = rotated.stdout.split()
    assert new_signing.startswith("ed25519:") and new_encryption.startswith("x25519:")
    listed = [json.loads(line) for line in hub(home, "keys", "list", "--json").stdout.splitlines()]
    by_use = {(r["use"], r["status"]) for r in listed}
    assert by_use == {
        ("signing", "retired"), ("signing", "active"),
        ("encryption", "retired"), ("encryption", "active"),
    }  # fmt: skip
    assert hub(home, "keys", "revoke", new_signing).returncode == 0
    statuses = {
        r["key_id"]: r["status"]
        for r in map(json.loads, hub(home, "keys", "list", "--json").stdout.splitlines())
    }
    assert statuses[new_signing].startswith("revoked ")
    missing = hub(home, "keys", "revoke", "ed25519:0000000000000000")
    assert missing.returncode == 2 and "no key" in missing.stderr
