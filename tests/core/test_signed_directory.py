"""The signed directory: only a directory signed by the operators' directory key is loaded, never
an older one; agencies make their own keys and the operators apply their requests.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hub.core.clock import now_utc
from hub.runtime.ingress.pipeline import DEAD_LETTERED, DELIVERED
from hub.trust.address import Address
from hub.trust.authority import DirectoryAuthority, init_directory_key
from hub.trust.directory import (
    Directory,
    DirectoryError,
    load_signing_key,
    private_key_path,
)
from hub.trust.keys import SigningKey
from hub.trust.operators import OPERATORS
from hub.trust.requests import KeyRequest, check_request, make_request
from hub.trust.rotation import rotation_request
from hub.trust.signed import TrustAnchor, sign_document
from hub.wire.envelope import seal
from hub.wire.jsonpayload import from_json
from tests.cli.test_hygiene import hub
from tests.hubproc import load_example
from tests.runtime.test_ingress_pipeline import Rig

MIB, PSB, SAMR = (Address.parse(a) for a in ("MIB@350582", "PSB@350582", "SAMR@350582"))


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path / "hub")


def forge(rig: Rig, edit, key: SigningKey | None = None) -> None:
    """What someone who can write the hub host's files does: edit the directory and sign it with
    a key of their own (or not sign it at all)."""
    path = rig.settings.directory_path
    body = json.loads(path.read_text())["directory"]
    edit(body)
    document = sign_document(body, key) if key else {"format": 1, **body}
    path.write_text(json.dumps(document))


def add_rogue_key(body: dict, key: SigningKey) -> None:
    mib = next(c for c in body["connectors"] if c["address"] == "MIB@350582")
    mib["keys"].append({"key_id": key.key_id, "public_key": key.public_b64,
                        "created_at": "2026-12-02T00:00:00+00:00", "status": "active"})  # fmt: skip
    body["serial"] += 1


@pytest.mark.parametrize("signer", ["hub runtime key", "a key of its own", "unsigned"])
def test_a_directory_not_signed_by_the_directory_key_is_never_loaded(rig: Rig, signer: str) -> None:
    rogue = SigningKey.generate()
    before = rig.services.directory.refresh(force=True)
    key = {
        "hub runtime key": rig.key(str(OPERATORS)),
        "a key of its own": SigningKey.generate(),
        "unsigned": None,
    }[signer]
    forge(rig, lambda body: add_rogue_key(body, rogue), key)
    with pytest.raises(DirectoryError, match=r"trust anchor|not a signed directory"):
        Directory.load(rig.settings.directory_path, rig.authority.anchor)
    assert rig.services.directory.refresh(force=True) is before  # the router keeps what it had
    # A message sealed as MIB's with the key slipped in is refused; MIB's own key still works.
    _, forged = seal(
        rig.services.registry,
        family="clue_transfer",
        payload_schema=rig.services.registry.latest("clue_transfer"),
        payload=_payload(rig),
        sender=MIB,
        recipient=PSB,
        key=rogue,
    )
    outcome = rig.handle(rig.record(forged))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "bad_signature")
    assert rig.handle(rig.record(rig.message()[1])).kind == DELIVERED


def _payload(rig: Rig) -> dict:
    return from_json(
        rig.services.registry.latest("clue_transfer").raw, load_example("clue_transfer")
    )


def test_an_older_directory_is_refused_once_a_newer_one_was_loaded(rig: Rig) -> None:
    path = rig.settings.directory_path
    old_bytes = path.read_bytes()
    key_id = rig.key("MIB@350582").key_id
    rig.authority.revoke(key_id, now_utc())
    directory = rig.services.directory.refresh(force=True)
    revoked_serial = directory.serial
    assert directory.key_owner(key_id)[1].status == "revoked"
    path.write_bytes(old_bytes)  # a replay of the version where the key was still active
    assert Directory.load(path, rig.authority.anchor).serial < revoked_serial  # validly signed
    again = rig.services.directory.refresh(force=True)
    assert again.serial == revoked_serial
    assert again.key_owner(key_id)[1].status == "revoked"
    assert rig.services.directory.refused >= 1


def test_the_directory_key_must_be_in_the_anchor_it_is_used_with(tmp_path: Path) -> None:
    key = init_directory_key(tmp_path / "k.pem", tmp_path / "anchor.json")
    other = TrustAnchor.of(SigningKey.generate().public)
    with pytest.raises(DirectoryError, match="not in the trust anchor"):
        DirectoryAuthority(tmp_path / "d.json", other, key)
    with pytest.raises(DirectoryError, match="exists already"):
        init_directory_key(tmp_path / "k.pem", tmp_path / "other.json")


def test_an_anchor_may_name_several_keys_and_any_of_them_signs(tmp_path: Path) -> None:
    k1, k2 = SigningKey.generate(), SigningKey.generate()
    anchor = TrustAnchor.of(k1.public, k2.public)
    anchor.save(tmp_path / "anchor.json")
    anchor = TrustAnchor.load(tmp_path / "anchor.json")
    path = tmp_path / "d.json"
    replace(Directory(), serial=3).write_signed(path, k2)
    assert Directory.load(path, anchor).serial == 3


def test_a_reader_without_an_anchor_loads_nothing(tmp_path: Path) -> None:
    from hub.core.config import Settings
    from hub.trust.directory_file import directory_file

    with pytest.raises(DirectoryError, match="no trust anchor"):
        directory_file(Settings(home=tmp_path))


# -- requests ------------------------------------------------------------------------------------


def test_a_registration_request_carries_public_halves_only_and_proves_possession(
    rig: Rig, tmp_path: Path
) -> None:
    agency_keys = tmp_path / "samr-host" / "keys"
    request = make_request("register", SAMR, agency_keys, name="晋江市市场监督管理局")
    request.save(tmp_path / "samr.request.json")
    text = (tmp_path / "samr.request.json").read_text()
    assert "PRIVATE" not in text
    loaded = KeyRequest.load(tmp_path / "samr.request.json")
    assert loaded.fingerprint == request.fingerprint and len(loaded.fingerprint) == 39
    directory = rig.authority.apply(loaded)
    conn = directory.connectors[SAMR]
    assert conn.name == "晋江市市场监督管理局"
    key = load_signing_key(agency_keys, SAMR, directory)  # the private half is the agency's
    assert key.key_id == request.body["signing_key"]["key_id"]
    assert not (rig.settings.keys_dir / str(SAMR)).exists()  # nothing of it on the hub host


def test_a_request_whose_proof_does_not_verify_is_refused(rig: Rig, tmp_path: Path) -> None:
    request = make_request("register", SAMR, tmp_path / "keys")
    body = dict(request.body, name="someone else")  # changed after signing
    with pytest.raises(DirectoryError, match="proof of possession"):
        check_request(KeyRequest(body, request.proof), rig.authority.current())
    stranger = make_request("register", SAMR, tmp_path / "keys2")
    spliced = KeyRequest(request.body, stranger.proof)  # another key's proof
    with pytest.raises(DirectoryError, match="proof of possession"):
        check_request(spliced, rig.authority.current())


def test_a_registered_agency_is_not_registered_again_by_someone_else(
    rig: Rig, tmp_path: Path
) -> None:
    hijack = make_request("register", MIB, tmp_path / "attacker")
    with pytest.raises(DirectoryError, match="registered already"):
        rig.authority.apply(hijack)


def test_a_rotation_is_authorised_only_by_the_connectors_active_key(
    rig: Rig, tmp_path: Path
) -> None:
    directory = rig.authority.current()
    # Authorised by PSB's key, for MIB: refused.
    psb_key = rig.key("PSB@350582")
    forged = make_request("rotate", MIB, tmp_path / "attacker", current=psb_key)
    with pytest.raises(DirectoryError, match="not authorised by an active signing key"):
        check_request(forged, directory)
    # Authorised by nobody: refused.
    unsigned = KeyRequest(forged.body, forged.proof, None)
    with pytest.raises(DirectoryError, match="not authorised"):
        check_request(unsigned, directory)
    # MIB's own rotation: applied; the old key retired, the new one active.
    request = rotation_request(
        rig.settings.keys_dir, MIB, directory, signing=True, encryption=False
    )
    before = rig.key("MIB@350582").key_id
    after = rig.authority.apply(request)
    statuses = {k.key_id: k.status for k in after.connectors[MIB].keys}
    assert statuses[before] == "retired"
    assert statuses[request.body["signing_key"]["key_id"]] == "active"
    # A retired key may not authorise the next rotation.
    old = SigningKey.load(private_key_path(rig.settings.keys_dir, MIB, before))
    stale = make_request("rotate", MIB, tmp_path / "k3", signing=False, current=old)
    with pytest.raises(DirectoryError, match="not authorised"):
        check_request(stale, after)


def test_until_the_operators_apply_a_rotation_the_connector_signs_with_its_current_key(
    rig: Rig,
) -> None:
    before = rig.key("MIB@350582").key_id
    rotation_request(
        rig.settings.keys_dir, MIB, rig.authority.current(), signing=True, encryption=True
    )
    assert rig.key("MIB@350582").key_id == before
    _, raw = rig.message()
    assert rig.handle(rig.record(raw)).kind == DELIVERED


def test_agency_and_operators_on_separate_hosts_through_the_command_line(tmp_path: Path) -> None:
    agency, operators = tmp_path / "agency", tmp_path / "operators"
    assert hub(operators, "directory", "init").returncode == 0
    anchor = operators / "directory-anchor.json"
    # The agency: keys and a request; nothing is registered yet.
    made = hub(agency, "keys", "new", "SAMR@350582", "--request", str(tmp_path / "r.json"))
    assert made.returncode == 0, made.stderr
    fingerprint = made.stdout.strip()
    assert "fingerprint" in made.stderr
    # The operators refuse a first registration whose fingerprint was not confirmed.
    refused = hub(operators, "directory", "apply", str(tmp_path / "r.json"))
    assert refused.returncode == 2 and "--confirm" in refused.stderr
    wrong = hub(operators, "directory", "apply", str(tmp_path / "r.json"), "--confirm", "0000")
    assert wrong.returncode == 2
    applied = hub(
        operators, "directory", "apply", str(tmp_path / "r.json"), "--confirm", fingerprint
    )
    assert applied.returncode == 0, applied.stderr
    # The agency receives the signed directory and the anchor, and verifies them.
    (agency / "directory.json").write_bytes((operators / "directory.json").read_bytes())
    (agency / "directory-anchor.json").write_bytes(anchor.read_bytes())
    shown = hub(agency, "directory", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["serial"] == 2 and info["connectors"] == 1 and info["verified"]
    # A rotation request made by the agency, authorised by its key, applied by the operators.
    rot = hub(agency, "keys", "rotate", "SAMR@350582", "--request", str(tmp_path / "rot.json"))
    assert rot.returncode == 0, rot.stderr
    assert hub(operators, "directory", "apply", str(tmp_path / "rot.json")).returncode == 0
    listed = [
        json.loads(line) for line in hub(operators, "keys", "list", "--json").stdout.splitlines()
    ]
    assert sorted(r["status"] for r in listed) == ["active", "active", "retired", "retired"]
    # The agency host has no directory key: it cannot change the directory itself.
    own = hub(agency, "keys", "new", "PSB@350582")
    assert own.returncode == 2 and "no directory key" in own.stderr
    # A tampered copy does not verify on the agency's side.
    doc = json.loads((agency / "directory.json").read_text())
    doc["directory"]["connectors"][0]["name"] = "x"
    (agency / "directory.json").write_text(json.dumps(doc))
    assert hub(agency, "directory", "show").returncode == 1


def test_an_unsigned_directory_is_signed_once_by_the_operators(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert hub(home, "directory", "init").returncode == 0
    key = SigningKey.generate()
    unsigned = Directory().with_key(MIB, key, "医保").to_json()
    (tmp_path / "old.json").write_text(json.dumps({"format": 1, **unsigned}))
    done = hub(home, "directory", "sign", str(tmp_path / "old.json"))
    assert done.returncode == 0, done.stderr
    listed = hub(home, "keys", "list", "--json").stdout
    assert key.key_id in listed


def test_a_development_hub_signs_the_unsigned_directory_an_older_hub_left(tmp_path: Path) -> None:
    from hub.core.config import Settings
    from hub.trust.authority import development_authority
    from hub.trust.directory_file import load_directory

    settings = Settings(home=tmp_path / "home")
    key = SigningKey.generate()
    old = {"format": 1, **Directory().with_key(MIB, key, "医保").to_json()}
    settings.home.mkdir()
    settings.directory_path.write_text(json.dumps(old))
    development_authority(settings)
    directory = load_directory(settings)
    assert directory.serial == 1 and directory.key_owner(key.key_id) is not None
    development_authority(settings)  # once: a second start changes nothing
    assert load_directory(settings).serial == 1
