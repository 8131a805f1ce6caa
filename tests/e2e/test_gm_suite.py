"""A hub of the gm suite (国密) against the real embedded broker: OpenSSL's command line verifies
the SM2 signature of every family from the README's description alone; a corruption clue signed
under intl is refused by the policy; the log is SM3 and proves inclusion and consistency; its
export re-verifies without the hub."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC
from pathlib import Path

from connectors.messages import encryption_target
from hub.core import merkle
from hub.trust import suites
from hub.trust.address import Address
from hub.trust.authority import development_authority
from hub.trust.directory_file import load_directory
from hub.trust.keys import SigningKey
from hub.wire.envelope import read_envelope, seal
from hub.wire.topics import inbox_topic
from tests.e2e.test_end_to_end import dead_letter_of, payload
from tests.hubproc import HubProcess, raw_inbox_records, wait_for_messages, wait_until

ROOT = Path(__file__).resolve().parents[2]
#: SubjectPublicKeyInfo of an SM2 key without its 65-byte point (id-ecPublicKey, curve SM2).
SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")


def F(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return len(data).to_bytes(4, "big") + data


def optional(text: str | None) -> bytes:
    return b"\x00" if text is None else b"\x01" + F(text)


def sm3_hex(data: bytes) -> str:
    out = subprocess.run(["openssl", "dgst", "-sm3", "-r"], input=data, capture_output=True,
                         check=True)  # fmt: skip
    return out.stdout.split()[0].decode()


def signed_bytes(env) -> bytes:  # type: ignore[no-untyped-def]
    """hub-sig-sm2-v1 as the README states it, with OpenSSL's SM3: no hub code."""
    enc = None
    if env.encryption is not None:
        enc = sm3_hex(b"".join(F(env.encryption[name] if isinstance(env.encryption[name], bytes)
                                 else str(env.encryption[name] or ""))
                               for name in ("scheme", "recipient_key_id",
                                            "ephemeral_public_key", "nonce")))  # fmt: skip
    assert not env.documents  # the messages below carry none
    return b"".join([
        F("hub-sig-sm2-v1"), F(env.message_id), F(env.family), F(str(env.schema_version)),
        F(str(env.sender)), F(str(env.recipient)), optional(env.correlation_id),
        optional(env.causation_id), F(str(int(env.created_at.astimezone(UTC).timestamp() * 1000))),
        F(env.signing_key_id), F(sm3_hex(env.payload)), optional(enc), optional(None),
    ])  # fmt: skip


def openssl_verifies(public_b64: str, message: bytes, signature: bytes, tmp: Path) -> bool:
    der = SM2_SPKI_PREFIX + base64.b64decode(public_b64)
    pem = (
        "-----BEGIN PUBLIC KEY-----\n"
        + base64.encodebytes(der).decode()
        + "-----END PUBLIC KEY-----\n"
    )
    (tmp / "key.pem").write_text(pem)
    (tmp / "msg").write_bytes(message)
    (tmp / "sig").write_bytes(signature)
    out = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp / "key.pem"), "-rawin",
         "-digest", "sm3", "-pkeyopt", "distid:1234567812345678", "-in", str(tmp / "msg"),
         "-sigfile", str(tmp / "sig")], capture_output=True, text=True,
    )  # fmt: skip
    return out.returncode == 0 and "Signature Verified Successfully" in out.stdout


def test_openssl_verifies_every_familys_sm2_signature_from_the_readme(
    gm_hub: HubProcess, tmp_path: Path
) -> None:
    hub = gm_hub
    mib, fin = hub.connector("MIB@350582"), hub.connector("FIN@350582")
    request = mib.send("invoice_verification_request", "FIN@350582",
                       payload(mib, "invoice_verification_request"))  # fmt: skip
    sent = {
        "PSB@350582": [mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer")),
                       mib.send("case_referral", "PSB@350582", payload(mib, "case_referral"))],
        "CDI@350582": [mib.send("corruption_clue_handoff", "CDI@350582",
                                payload(mib, "corruption_clue_handoff"))],
        "FIN@350582": [request],
        "MIB@350582": [fin.send("invoice_verification_result", "MIB@350582",
                                payload(fin, "invoice_verification_result"),
                                correlation_id=request)],
    }  # fmt: skip
    # The answers: the police sign for the clue, accept it, give feedback and close it.
    psb = hub.connector("PSB@350582")
    clue = wait_for_messages(psb, sent["PSB@350582"][:1])[sent["PSB@350582"][0]]
    sent["MIB@350582"] += [psb.receipt(clue), psb.accept(clue, case_number="晋公刑〔2026〕1号"),
                           psb.feedback(clue, "立案侦查中", percent=40),
                           psb.close_case(clue, "VERIFIED_TRUE", recovered_fen=1234)]  # fmt: skip
    directory = load_directory(hub.settings)
    checked = set()
    for address, ids in sent.items():
        wait_for_messages(hub.connector(address, signing=False), ids)
        agency, region = address.split("@")
        for record in raw_inbox_records(hub.state.bootstrap, inbox_topic(agency, region)):
            env = read_envelope(mib.registry, record.value)
            if env.message_id not in ids:
                continue
            assert env.signature_scheme == "hub-sig-sm2-v1"
            assert env.signing_key_id.startswith("sm2:")
            owner = directory.key_owner(env.signing_key_id)
            assert owner is not None and owner[0] == env.sender
            message = signed_bytes(env)
            assert openssl_verifies(owner[1].public_key, message, env.signature, tmp_path)
            assert not openssl_verifies(owner[1].public_key, message + b"x", env.signature,
                                        tmp_path)  # fmt: skip
            if env.family == "corruption_clue_handoff":
                assert env.encryption is not None
                assert env.encryption["scheme"] == "sm2-wrapped-sm4gcm"
            checked.add(env.family)
    assert checked == {"clue_transfer", "case_referral", "corruption_clue_handoff",
                       "invoice_verification_request", "invoice_verification_result",
                       "receipt", "acceptance", "feedback", "closure"}  # fmt: skip


def test_a_corruption_clue_signed_under_intl_is_refused_by_the_gm_policy(
    gm_hub: HubProcess,
) -> None:
    """HEALTH@350582 also holds an intl key (listed in the directory, as during a migration):
    a corruption clue signed with it is refused, whatever else is right about it."""
    hub = gm_hub
    health = hub.connector("HEALTH@350582")
    old = SigningKey.generate("intl")
    authority = development_authority(hub.settings)
    published = authority.publish(authority.current().with_key(health.address, old))
    # The router takes a new directory within a second or so; a clue sent before it has would
    # be judged by the old one (an unknown key: bad_signature), so wait for the hub to say so.
    wait_until(lambda: f"directory serial {published.serial} taken" in hub.log(),
               what="the hub to take the directory with the intl key")  # fmt: skip
    cdi = Address.parse("CDI@350582")
    schema = health.registry.latest("corruption_clue_handoff")
    env, raw = seal(
        health.registry, family="corruption_clue_handoff", payload_schema=schema,
        payload=payload(health, "corruption_clue_handoff"), sender=health.address,
        recipient=cdi, key=old, encrypt_to=encryption_target(health.directory(), cdi),
    )  # fmt: skip
    health.send_raw(raw)
    assert dead_letter_of(hub, env.message_id)["reason"] == "suite_forbidden"


def test_the_sm3_log_verifies_proves_and_exports_without_the_hub(
    gm_hub: HubProcess, tmp_path: Path
) -> None:
    hub = gm_hub
    mib = hub.connector("MIB@350582")
    mid = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
    wait_for_messages(hub.connector("PSB@350582", signing=False), [mid])
    hub.cli("audit", "checkpoint")
    first = json.loads(hub.cli("audit", "prove", mid).stdout)
    assert first["scheme"] == "rfc9162-sm3"
    assert first["checkpoint"].startswith("medfund-hub/audit-sm3\n")
    verdict = json.loads(hub.cli("audit", "verify", "--json").stdout)
    assert verdict["ok"] and verdict["checkpoints_verified"] >= 1

    later = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
    wait_for_messages(hub.connector("PSB@350582", signing=False), [later])
    proof = json.loads(
        hub.cli("audit", "consistency", "--old-size", str(first["tree_size"])).stdout
    )
    assert proof["scheme"] == "rfc9162-sm3" and proof["old_root"] == first["root"]
    path = [bytes.fromhex(p) for p in proof["proof"]]
    old, new = bytes.fromhex(first["root"]), bytes.fromhex(proof["root"])
    sizes = (first["tree_size"], proof["tree_size"])
    assert merkle.verify_consistency(*sizes, old, new, path, suites.GM.digest)
    assert not merkle.verify_consistency(*sizes, old, new, path)  # not a SHA-256 tree

    (tmp_path / "proof.json").write_text(json.dumps(first))
    hub.cli("audit", "export", "--out", str(tmp_path / "export"))
    out = subprocess.run([sys.executable, str(ROOT / "ops/audit/verify_export.py"),
                          str(tmp_path / "export"), "--prove", str(tmp_path / "proof.json")],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads((tmp_path / "export" / "manifest.json").read_text())["hash"] == "sm3"
