"""The agency directory: which connectors (AGENCY@REGION) exist, their public signing keys and
the public keys payloads are encrypted to.

Kept in one JSON file that ``hub keys new`` writes and the router re-reads when it changes.
Private keys never enter it; they stay in the connector's key folder.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.core.errors import TrustError
from hub.core.text import shown
from hub.trust.address import Address
from hub.trust.agencies import AGENCIES, is_agency
from hub.trust.e2e import EncryptionKey, encryption_key_id
from hub.trust.keys import SigningKey, key_id_for, load_public
from hub.trust.regions import is_region

log = logging.getLogger(__name__)
FORMAT = 1

#: Connectors the development directory creates: the county of Jinjiang with every agency, its
#: city and province MIB (for batches and escalation) and the city PSB (for fallback).
DEV_CONNECTORS = [
    *(f"{agency}@350582" for agency in AGENCIES if agency != "HUB"),
    "MIB@350500",
    "MIB@350000",
    "MIB@100000",
    "PSB@350500",
    "CDI@350500",
]


class DirectoryError(TrustError):
    """The directory file is unreadable or inconsistent, or an address is not acceptable."""


#: A key's life: ``active`` (used for new messages), ``retired`` (rotated out: what was signed
#: or encrypted with it is still accepted and readable), ``revoked`` (compromised or withdrawn:
#: refused for anything new; what the audit log recorded before ``revoked_at`` still verifies).
STATUSES = ("active", "retired", "revoked")


@dataclass(frozen=True)
class KeyEntry:
    key_id: str
    public_key: str  # base64 of the raw 32-byte public key (Ed25519, or X25519 for encryption)
    created_at: str
    status: str = "active"
    revoked_at: str | None = None


@dataclass(frozen=True)
class Connector:
    address: Address
    name: str = ""
    keys: tuple[KeyEntry, ...] = ()
    #: X25519 keys for payloads encrypted to this connector (``hub.trust.e2e``); the newest
    #: active one is what senders encrypt to, retired ones stay so old messages name them.
    encryption_keys: tuple[KeyEntry, ...] = ()

    def encryption_key(self) -> KeyEntry | None:
        active = [k for k in self.encryption_keys if k.status == "active"]
        return active[-1] if active else None


def check_address(address: Address) -> None:
    if not is_agency(address.agency):
        raise DirectoryError(
            f"unknown agency '{shown(address.agency, 16)}'; known: {', '.join(sorted(AGENCIES))}"
        )
    if not is_region(address.region):
        raise DirectoryError(
            f"region '{shown(address.region, 16)}' is not a 6-digit GB/T 2260 code"
        )


@dataclass(frozen=True)
class Directory:
    connectors: dict[Address, Connector] = field(default_factory=dict)

    def __post_init__(self) -> None:
        index: dict[str, tuple[Address, KeyEntry]] = {}
        enc_index: dict[str, tuple[Address, KeyEntry]] = {}
        for conn in self.connectors.values():
            for k in conn.keys:
                index[k.key_id] = (conn.address, k)
            for k in conn.encryption_keys:
                enc_index[k.key_id] = (conn.address, k)
        object.__setattr__(self, "_keys", index)
        object.__setattr__(self, "_enc_keys", enc_index)
        object.__setattr__(self, "_public_cache", {})

    def has(self, address: Address) -> bool:
        return address in self.connectors

    def addresses(self) -> list[Address]:
        return sorted(self.connectors)

    def key_owner(self, key_id: str) -> tuple[Address, KeyEntry] | None:
        return self._keys.get(key_id)  # type: ignore[attr-defined]

    def encryption_key_owner(self, key_id: str) -> tuple[Address, KeyEntry] | None:
        return self._enc_keys.get(key_id)  # type: ignore[attr-defined]

    def public_key(self, key_id: str) -> Ed25519PublicKey | None:
        cache: dict[str, Ed25519PublicKey] = self._public_cache  # type: ignore[attr-defined]
        if key_id not in cache:
            owner = self.key_owner(key_id)
            if owner is None:
                return None
            cache[key_id] = load_public(owner[1].public_key)
        return cache[key_id]

    def with_encryption_key(self, address: Address, key: EncryptionKey) -> Directory:
        check_address(address)
        entry = KeyEntry(
            key.key_id, key.public_b64, datetime.now(UTC).isoformat(timespec="seconds")
        )
        conn = self.connectors.get(address, Connector(address))
        conn = replace(conn, encryption_keys=(*conn.encryption_keys, entry))
        return Directory({**self.connectors, address: conn})

    def with_key(self, address: Address, key: SigningKey, name: str = "") -> Directory:
        check_address(address)
        entry = KeyEntry(
            key.key_id, key.public_b64, datetime.now(UTC).isoformat(timespec="seconds")
        )
        conn = self.connectors.get(address, Connector(address, name))
        conn = replace(conn, name=name or conn.name, keys=(*conn.keys, entry))
        return Directory({**self.connectors, address: conn})

    # -- file ----------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "connectors": [
                {
                    "address": str(c.address),
                    "name": c.name,
                    "keys": [k.__dict__ for k in c.keys],
                    "encryption_keys": [k.__dict__ for k in c.encryption_keys],
                }
                for c in sorted(self.connectors.values(), key=lambda c: c.address)
            ],
        }

    @classmethod
    def from_json(cls, data: dict, source: str = "directory") -> Directory:
        if data.get("format") != FORMAT:
            raise DirectoryError(f"{source}: unsupported format {data.get('format')!r}")
        connectors: dict[Address, Connector] = {}
        seen: set[str] = set()
        for i, item in enumerate(data.get("connectors", [])):
            try:
                address = Address.parse(item["address"])
                check_address(address)
                keys = tuple(_entry(k, key_id_for) for k in item.get("keys", []))
                enc = tuple(_entry(k, encryption_key_id) for k in item.get("encryption_keys", []))
            except (KeyError, TypeError, ValueError) as exc:
                raise DirectoryError(f"{source}: connector #{i + 1}: {exc}") from exc
            if address in connectors:
                raise DirectoryError(f"{source}: {address} is listed twice")
            for k in (*keys, *enc):
                if k.key_id in seen:
                    raise DirectoryError(f"{source}: key {k.key_id} is registered twice")
                seen.add(k.key_id)
            connectors[address] = Connector(address, item.get("name", ""), keys, enc)
        return cls(connectors)

    @classmethod
    def load(cls, path: Path) -> Directory:
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DirectoryError(f"{path}: {exc}") from exc
        return cls.from_json(data, str(path))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: a router re-reading the file never sees half of it.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".directory-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh, ensure_ascii=False, indent=2)
            fh.write("\n")
        os.replace(tmp, path)


def _entry(data: dict, key_id_of: Callable[[bytes], str]) -> KeyEntry:
    """A key entry as the file has it, checked: its id is recomputed from its public key (an id
    names one key only), its status is one of ``STATUSES``."""
    entry = KeyEntry(**data)
    if entry.status not in STATUSES:
        raise ValueError(f"key {entry.key_id}: status {entry.status!r} is not one of {STATUSES}")
    try:
        raw = base64.b64decode(entry.public_key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"key {entry.key_id}: public key is not base64") from exc
    if len(raw) != 32 or key_id_of(raw) != entry.key_id:
        raise ValueError(f"key {entry.key_id}: the id does not match its public key")
    return entry


class DirectoryFile:
    """A directory that re-reads its file when the file changes (checked at most once a second)."""

    def __init__(self, path: Path, check_every_s: float = 1.0) -> None:
        self.path = path
        self.check_every_s = check_every_s
        self._mtime: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._current = Directory()
        self.refresh(force=True)

    def refresh(
        self, *, force: bool = False, now: float | None = None, throttle: bool = True
    ) -> Directory:
        now = time.monotonic() if now is None else now
        if throttle and not force and now - self._checked < self.check_every_s:
            return self._current
        self._checked = now
        try:
            st = self.path.stat()
            # save() replaces the file, so the inode changes even within one mtime tick.
            mtime = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            mtime = None
        if force or mtime != self._mtime:
            try:
                self._current = Directory.load(self.path)
                if self._mtime is not None or not force:
                    log.info("directory reloaded: %d connectors", len(self._current.connectors))
            except DirectoryError as exc:
                log.error("directory %s not reloaded, keeping the previous one: %s", self.path, exc)
            self._mtime = mtime
        return self._current

    @property
    def current(self) -> Directory:
        return self.refresh()

    def reload_if_changed(self) -> bool:
        """Check the file now, ignoring the throttle; True when a new version was loaded."""
        before = self._current
        self.refresh(throttle=False)
        return self._current is not before


# -- private keys of local connectors ------------------------------------------------------------


def private_key_path(keys_dir: Path, address: Address, key_id: str) -> Path:
    return keys_dir / str(address) / (key_id.replace(":", "-") + ".pem")


def load_signing_key(keys_dir: Path, address: Address, directory: Directory) -> SigningKey:
    """The newest private key of ``address`` whose public half is active in the directory."""
    conn = directory.connectors.get(address)
    if conn is None:
        raise DirectoryError(
            f"{address} is not in the directory; create its key with `hub keys new {address}`"
        )
    for entry in reversed(conn.keys):
        path = private_key_path(keys_dir, address, entry.key_id)
        if entry.status == "active" and path.exists():
            return SigningKey.load(path)
    raise DirectoryError(f"no private key of {address} in {keys_dir / str(address)}")


def load_encryption_keys(
    keys_dir: Path, address: Address, directory: Directory
) -> list[EncryptionKey]:
    """Every private encryption key of ``address`` present here, retired ones included (old
    messages name them), newest first."""
    conn = directory.connectors.get(address)
    found = []
    for entry in reversed(conn.encryption_keys if conn else ()):
        path = private_key_path(keys_dir, address, entry.key_id)
        if path.exists():
            found.append(EncryptionKey.load(path))
    return found


def create_key(
    directory_path: Path, keys_dir: Path, address: Address, name: str = ""
) -> SigningKey:
    """Generate a signing key pair and an encryption key pair, keep the private halves in
    ``keys_dir``, register the public halves."""
    check_address(address)
    key = SigningKey.generate()
    key.save(private_key_path(keys_dir, address, key.key_id))
    enc = EncryptionKey.generate()
    enc.save(private_key_path(keys_dir, address, enc.key_id))
    directory = Directory.load(directory_path).with_key(address, key, name)
    directory.with_encryption_key(address, enc).save(directory_path)
    log.info("registered keys %s and %s for %s", key.key_id, enc.key_id, address)
    return key


def create_dev_directory(directory_path: Path, keys_dir: Path, addresses: Iterable[str]) -> int:
    """Give every listed connector that has no key yet a key pair; returns how many were made."""
    directory = Directory.load(directory_path)
    made = 0
    changed = False
    for text in addresses:
        address = Address.parse(text)
        if not directory.has(address):
            key = SigningKey.generate()
            key.save(private_key_path(keys_dir, address, key.key_id))
            directory = directory.with_key(address, key, name=f"development connector {address}")
            made += 1
            changed = True
        if directory.connectors[address].encryption_key() is None:
            # Also for a development directory written before end-to-end encryption.
            enc = EncryptionKey.generate()
            enc.save(private_key_path(keys_dir, address, enc.key_id))
            directory = directory.with_encryption_key(address, enc)
            changed = True
    if changed:
        directory.save(directory_path)
    return made
