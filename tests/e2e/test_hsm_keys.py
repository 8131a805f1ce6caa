"""Keys in a hardware module: a hub whose operators' key (which signs checkpoints and tree heads)
was made inside SoftHSM2 signs with it through PKCS#11, no PEM of that key exists on disk, and an
outsider verifies what it signed from an export alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_hygiene import hub as hub_cli
from tests.e2e.test_end_to_end import audit_kinds_until, payload
from tests.hubproc import start_hub

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SoftHSM2 token of this test's own (its own config and token folder); the URI of an
    object in it, the PIN in a file as pin-source has it."""
    if not MODULE.exists():
        pytest.fail("SoftHSM2 is missing: `./dev test` installs Debian's softhsm2")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "hub", "--pin", "4321",
         "--so-pin", "87654321"],
        check=True, capture_output=True,
    )  # fmt: skip
    pin = tmp_path / "pin"
    pin.write_text("4321\n")
    return f"pkcs11:token=hub;object=%s?module-path={MODULE}&pin-source=file:{pin}"


def test_a_hub_whose_checkpoint_key_lives_only_in_softhsm_signs_what_an_outsider_verifies(
    tmp_path: Path, token: str
) -> None:
    home = tmp_path / "hub"
    made = hub_cli(home, "keys", "new", "HUB@100000", "--pkcs11", token % "operators",
                   env={"HUB_DEV_DIRECTORY": "always"})  # fmt: skip
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.split()[0]
    assert key_id.startswith("ed25519:") and "PKCS#11 module" in made.stderr
    hub = start_hub(home)
    try:
        mib = hub.connector("MIB@350582")
        mid = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
        audit_kinds_until(hub, mid, lambda k: "delivered" in k)
        hub.cli("audit", "checkpoint")  # signed by the module, from another process
        verdict = json.loads(hub.cli("audit", "verify", "--json").stdout)
        assert verdict["ok"] and verdict["checkpoints_verified"] >= 1
        proof = json.loads(hub.cli("audit", "prove", mid).stdout)
        assert f"\n\u2014 {key_id} " in proof["checkpoint"]
        (tmp_path / "proof.json").write_text(json.dumps(proof))
        hub.cli("audit", "export", "--out", str(tmp_path / "export"))
        done = subprocess.run(
            [sys.executable, str(ROOT / "ops" / "audit" / "verify_export.py"),
             str(tmp_path / "export"), "--prove", str(tmp_path / "proof.json")],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"checkpoint signed by {key_id}" in done.stdout
        listed = [json.loads(line) for line in hub.cli("keys", "list", "--json").stdout.split("\n")
                  if line.strip()]  # fmt: skip
        [ops] = [k for k in listed if k["key_id"] == key_id]
        assert ops["location"].startswith("pkcs11 pkcs11:token=hub;object=operators")
        assert "4321" not in ops["location"]  # the PIN is never shown
    finally:
        hub.stop()
    # No PEM of the operators' signing key anywhere on disk: only the module holds it.
    pems = [p.read_text() for p in home.rglob("*.pem")]
    kept = home / "keys" / "HUB@100000"
    assert not list(kept.glob("ed25519-*.pem")) and list(kept.glob("ed25519-*.pkcs11"))
    assert all(key_id.split(":")[1] not in p for p in pems)


def test_a_gm_key_cannot_be_made_in_a_pkcs11_module_and_says_why(
    tmp_path: Path, token: str
) -> None:
    made = hub_cli(tmp_path / "hub", "keys", "new", "CDI@350582", "--suite", "gm",
                   "--pkcs11", token % "cdi", env={"HUB_DEV_DIRECTORY": "always"})  # fmt: skip
    assert made.returncode != 0
    assert "GM/T 0018" in made.stderr


def test_the_directory_key_may_live_in_the_module_and_signs_directories_readers_accept(
    tmp_path: Path, token: str
) -> None:
    from hub.core.config import Settings
    from hub.trust.authority import DirectoryAuthority, init_directory_key
    from hub.trust.directory import Directory
    from hub.trust.directory_file import load_directory

    uri = token % "directory"
    settings = Settings(home=tmp_path / "ops", dev_directory="never", directory_key_file=uri)
    settings.home.mkdir()
    key = init_directory_key(settings.directory_key_path, settings.directory_anchor_path)
    assert not list(settings.home.rglob("*.pem"))  # the anchor holds the public half only
    authority = DirectoryAuthority.from_settings(settings)
    assert authority.key.key_id == key.key_id
    authority.publish(Directory(), base=Directory())
    assert load_directory(settings).serial == 1  # verified against the anchor
