"""The two cryptographic suites behind one interface, and the `gm` suite checked by outsiders:
GB/T 32905's and GB/T 32907's own examples, and the OpenSSL command line (no hub code) verifying
SM2 signatures, HMAC-SM3 tags and unwrapping SM2-encrypted content keys."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tongsuopy.crypto.ciphers import Cipher, algorithms, modes
from tongsuopy.crypto.ciphers.aead import SM4GCM

from hub.trust import suites
from hub.trust.suites import GM_DISTID, DecryptionFailed, Suite

ALL = [pytest.param(s, id=name) for name, s in suites.SUITES.items()]


@pytest.mark.parametrize("suite", ALL)
def test_a_signature_verifies_only_for_its_bytes_and_its_key(suite: Suite) -> None:
    key, other = suite.generate_signing_key(), suite.generate_signing_key()
    signature = key.sign(b"hub-sig structure")
    assert key.public().verify(signature, b"hub-sig structure")
    assert not key.public().verify(signature, b"hub-sig structurE")
    assert not other.public().verify(signature, b"hub-sig structure")
    assert not key.public().verify(b"\x30\x02\x01", b"hub-sig structure")  # malformed: False
    assert not key.public().verify(b"", b"hub-sig structure")


@pytest.mark.parametrize("suite", ALL)
def test_key_ids_name_their_algorithm_and_find_their_suite(suite: Suite) -> None:
    signing, encryption = suite.generate_signing_key(), suite.generate_encryption_key()
    assert signing.key_id.startswith(suite.signing_prefix + ":")
    assert encryption.key_id.startswith(suite.encryption_prefix + ":")
    assert suites.by_key_id(signing.key_id) is suite
    assert suites.by_key_id(encryption.key_id) is suite
    public = suites.public_from_raw(signing.public().raw)
    assert public.key_id == signing.key_id and public.suite is suite
    assert suites.load_private_pem(signing.pem()).key_id == signing.key_id
    assert suites.load_private_pem(encryption.pem(), encryption=True).key_id == encryption.key_id
    with pytest.raises(ValueError, match="names no known algorithm"):
        suites.by_key_id("rsa:0123")


@pytest.mark.parametrize("suite", ALL)
def test_a_sealed_payload_opens_only_with_its_key_and_its_context(suite: Suite) -> None:
    key, other = suite.generate_encryption_key(), suite.generate_encryption_key()
    sealed = suite.seal(b"clue payload", key.public(), b"context of envelope 1")
    assert sealed.scheme == suite.encryption_scheme and sealed.recipient_key_id == key.key_id
    assert b"clue payload" not in sealed.ciphertext
    assert suite.open(sealed, key, b"context of envelope 1") == b"clue payload"
    with pytest.raises(DecryptionFailed):
        suite.open(sealed, key, b"context of envelope 2")
    with pytest.raises(DecryptionFailed):
        suite.open(sealed, other, b"context of envelope 1")
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(DecryptionFailed):
        suite.open(type(sealed)(**{**sealed.__dict__, "ciphertext": flipped}), key,
                   b"context of envelope 1")  # fmt: skip


def test_sm3_gives_the_examples_of_gb_t_32905() -> None:
    gm = suites.by_name("gm")
    assert gm.digest(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    h = gm.hasher()
    for _ in range(16):
        h.update(b"abcd")
    assert h.hexdigest() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm4_gives_the_example_of_gb_t_32907() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    out = encryptor.update(key) + encryptor.finalize()
    assert out.hex() == "681edf34d206965e86b3e94f536e4246"


def _openssl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True)


def test_openssl_verifies_an_sm2_signature_with_the_default_signer_id(tmp_path: Path) -> None:
    gm = suites.by_name("gm")
    key = gm.generate_signing_key()
    (tmp_path / "key.pem").write_bytes(gm.public_pem(key.public()))
    (tmp_path / "msg").write_bytes(b"the length-prefixed structure")
    (tmp_path / "sig").write_bytes(key.sign(b"the length-prefixed structure"))

    def verify(distid: str) -> subprocess.CompletedProcess:
        return _openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "key.pem"),
                        "-rawin", "-digest", "sm3", "-pkeyopt", f"distid:{distid}", "-in",
                        str(tmp_path / "msg"), "-sigfile", str(tmp_path / "sig"))  # fmt: skip

    assert GM_DISTID == "1234567812345678"
    good = verify(GM_DISTID)
    assert good.returncode == 0 and "Signature Verified Successfully" in good.stdout
    assert verify("8765432187654321").returncode != 0  # Z binds the signer id


def test_openssl_computes_the_same_hmac_sm3(tmp_path: Path) -> None:
    gm = suites.by_name("gm")
    key = bytes(range(32))
    (tmp_path / "data").write_bytes(b"an audit record")
    out = _openssl("mac", "-digest", "SM3", "-macopt", f"hexkey:{key.hex()}",
                   "-in", str(tmp_path / "data"), "HMAC")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().lower() == gm.mac(key, b"an audit record").hex()


def test_openssl_unwraps_the_sm2_encrypted_content_key(tmp_path: Path) -> None:
    gm = suites.by_name("gm")
    key = gm.generate_encryption_key()
    sealed = gm.seal(b"corruption clue", key.public(), b"ctx")
    (tmp_path / "key.pem").write_bytes(key.pem())
    (tmp_path / "wrapped").write_bytes(sealed.encapsulated)
    out = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", str(tmp_path / "key.pem"),
                          "-in", str(tmp_path / "wrapped")], capture_output=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    content_key = out.stdout
    assert len(content_key) == 16
    opened = SM4GCM(content_key).decrypt(sealed.nonce, sealed.ciphertext, b"ctx")
    assert opened == b"corruption clue"


@pytest.mark.parametrize("suite", ALL)
def test_a_derived_value_is_stable_for_its_key_and_unlike_another_keys(suite: Suite) -> None:
    key, other = suite.generate_signing_key(), suite.generate_signing_key()
    assert key.derive(b"hub-answer-id") == key.derive(b"hub-answer-id")  # a receipt id re-derived
    assert key.derive(b"hub-answer-id") != key.derive(b"hub-answer-iD")
    assert key.derive(b"hub-answer-id") != other.derive(b"hub-answer-id")
    reloaded = suites.load_private_pem(key.pem())
    assert reloaded.derive(b"hub-answer-id") == key.derive(b"hub-answer-id")


def test_an_envelope_is_digested_in_its_signer_s_suite_as_openssl_digests_it(
    tmp_path: Path,
) -> None:
    """What a receipt signs for: SM3 for an SM2-signed envelope, SHA-256 for an Ed25519 one,
    labelled; an unknown key id falls back to the default suite's hash."""
    raw = b"\x00an envelope's bytes\xff" * 50
    (tmp_path / "raw").write_bytes(raw)
    for key, name in ((suites.GM.generate_signing_key(), "sm3"),
                      (suites.INTL.generate_signing_key(), "sha256")):  # fmt: skip
        out = _openssl("dgst", f"-{name}", "-r", str(tmp_path / "raw"))
        assert out.returncode == 0, out.stderr
        expected = out.stdout.split()[0].lower()
        assert suites.envelope_digest(key.key_id, raw) == f"{name}:{expected}"
    assert suites.envelope_digest("rsa:0000", raw).startswith("sha256:")
