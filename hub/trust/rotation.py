"""Key rotation: new keys made on the agency's side, a request authorised by the current key.

Rotation gives a connector new active keys and retires the ones they replace: what was signed or
encrypted with a retired key is still accepted, and its private half stays in the key folder so
older messages remain readable.  Until the operators apply the request the connector goes on
signing with its current key (``load_signing_key`` takes the newest key *active in the signed
directory*), so a rotation never leaves it unable to send.  Revocation is the operators'
(``DirectoryAuthority.revoke``).
"""

from __future__ import annotations

from pathlib import Path

from hub.trust.address import Address
from hub.trust.authority import DirectoryAuthority
from hub.trust.directory import Directory, DirectoryError, load_signing_key
from hub.trust.requests import KeyRequest, make_request


def rotation_request(
    keys_dir: Path,
    address: Address,
    directory: Directory,
    *,
    signing: bool,
    encryption: bool,
    suite: str | None = None,
) -> KeyRequest:
    """The agency's side: new key pairs, and the request its current signing key authorises.

    The new keys are made in ``suite``; by default in the current key's, so that only a
    rotation asked to (``--suite gm``) moves an agency to another suite."""
    if address not in directory.connectors:
        raise DirectoryError(f"{address} is not in the directory")
    current = load_signing_key(keys_dir, address, directory)
    return make_request(
        "rotate", address, keys_dir, signing=signing, encryption=encryption, current=current,
        suite=suite or current.suite.name,
    )  # fmt: skip


def rotate_keys(
    authority: DirectoryAuthority,
    keys_dir: Path,
    address: Address,
    *,
    signing: bool,
    encryption: bool,
    suite: str | None = None,
) -> list[str]:
    """Both sides at once (a hub that holds its directory key): returns the new key ids."""
    request = rotation_request(
        keys_dir, address, authority.current(), signing=signing, encryption=encryption,
        suite=suite,
    )  # fmt: skip
    authority.apply(request)
    return [
        request.body[k]["key_id"]
        for k in ("signing_key", "encryption_key")
        if request.body.get(k) is not None
    ]
