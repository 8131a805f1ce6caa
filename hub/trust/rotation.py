"""Key rotation and revocation in the directory.

Rotation gives a connector new active keys and retires the ones they replace: what was signed or
encrypted with a retired key is still accepted, and its private half stays in the key folder so
older messages remain readable.  Revocation refuses a key for anything new from ``revoked_at``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from hub.trust.address import Address
from hub.trust.directory import Directory, DirectoryError, KeyEntry, private_key_path
from hub.trust.e2e import EncryptionKey
from hub.trust.keys import SigningKey

log = logging.getLogger("hub.trust.directory")


def rotate_keys(
    directory_path: Path, keys_dir: Path, address: Address, *, signing: bool, encryption: bool
) -> list[str]:
    """New active keys for ``address``; the ones they replace become ``retired`` (still accepted
    and, for encryption keys, still readable: their private halves stay).  Returns the new ids."""
    directory = Directory.load(directory_path)
    conn = directory.connectors.get(address)
    if conn is None:
        raise DirectoryError(f"{address} is not in the directory")
    made: list[str] = []
    if signing:
        key = SigningKey.generate()
        key.save(private_key_path(keys_dir, address, key.key_id))
        conn = replace(conn, keys=(*_retire(conn.keys), _new_entry(key.key_id, key.public_b64)))
        made.append(key.key_id)
    if encryption:
        enc = EncryptionKey.generate()
        enc.save(private_key_path(keys_dir, address, enc.key_id))
        conn = replace(
            conn,
            encryption_keys=(
                *_retire(conn.encryption_keys),
                _new_entry(enc.key_id, enc.public_b64),
            ),
        )
        made.append(enc.key_id)
    Directory({**directory.connectors, address: conn}).save(directory_path)
    log.info("rotated %s: new keys %s", address, ", ".join(made))
    return made


def revoke_key(directory_path: Path, key_id: str, at: datetime) -> Address:
    """Mark a key revoked as of ``at``; returns its connector."""
    directory = Directory.load(directory_path)
    for conn in directory.connectors.values():
        for field_name in ("keys", "encryption_keys"):
            entries = getattr(conn, field_name)
            if any(k.key_id == key_id for k in entries):
                revoked = tuple(
                    replace(k, status="revoked", revoked_at=at.isoformat(timespec="seconds"))
                    if k.key_id == key_id
                    else k
                    for k in entries
                )
                updated = (
                    replace(conn, keys=revoked)
                    if field_name == "keys"
                    else replace(conn, encryption_keys=revoked)
                )
                Directory({**directory.connectors, conn.address: updated}).save(directory_path)
                log.warning("revoked key %s of %s", key_id, conn.address)
                return conn.address
    raise DirectoryError(f"no key {key_id} in the directory")


def _retire(entries: tuple[KeyEntry, ...]) -> tuple[KeyEntry, ...]:
    return tuple(replace(k, status="retired") if k.status == "active" else k for k in entries)


def _new_entry(key_id: str, public_b64: str) -> KeyEntry:
    return KeyEntry(key_id, public_b64, datetime.now(UTC).isoformat(timespec="seconds"))
