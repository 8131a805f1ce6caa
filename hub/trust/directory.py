"""The agency directory: which connectors (AGENCY@REGION) exist, their public signing keys and
the public keys payloads are encrypted to.

Kept in one JSON file signed by the operators' directory key (``hub.trust.signed``); it is
loaded only when that signature verifies against the reader's trust anchor, and the router and
connectors re-read it when it changes, never going back to an older serial.  The operators
write it (``hub.trust.authority``); private keys never enter it, they stay in the connector's
key folder on the agency's side.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from hub.core.errors import TrustError
from hub.core.files import write_atomic
from hub.core.text import shown
from hub.trust import hsm, suites
from hub.trust.address import Address
from hub.trust.agencies import AGENCIES, is_agency
from hub.trust.e2e import EncryptionKey
from hub.trust.keys import SigningKey, load_public
from hub.trust.pinned import PinnedHead, pinned_from_json, pinned_to_json
from hub.trust.regions import is_region
from hub.trust.signed import AnchorError, TrustAnchor, sign_document
from hub.trust.suites import PublicKey

log = logging.getLogger(__name__)
UNSIGNED_FORMAT = 1  # the directory before it was signed: read only to be signed

#: Connectors the development directory creates: the county of Jinjiang with every agency, its
#: city and province MIB (for batches and escalation) and the city PSB (for fallback).
DEV_CONNECTORS = [
    *(f"{agency}@350582" for agency in AGENCIES if agency != "HUB"),
    "MIB@350500",
    "MIB@350000",
    "MIB@100000",
    "PSB@350500",
    "CDI@350500",
    "FIN@350500",  # 泉州市财政局: answers e-invoice checks (`hub responder finance`)
    # The rest of 泉州 for `hub demo`: the city's procuratorate, court and health commission,
    # and two more county bureaus (南安, 石狮).
    "PROC@350500",
    "COURT@350500",
    "HEALTH@350500",
    "MIB@350583",
    "MIB@350581",
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
    public_key: str  # base64 of the raw public key, in its suite's wire form (hub.trust.suites)
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
    #: Version number of the signed document (0: never signed); readers never go back.
    serial: int = 0
    issued_at: str = ""
    #: Tree heads of the audit log the operators pinned with this version (hub.trust.pinned).
    audit_heads: tuple[PinnedHead, ...] = ()

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

    def public_key(self, key_id: str) -> PublicKey | None:
        cache: dict[str, PublicKey] = self._public_cache  # type: ignore[attr-defined]
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
        return self.with_connector(conn)

    def with_connector(self, conn: Connector) -> Directory:
        return replace(self, connectors={**self.connectors, conn.address: conn})

    def with_key(self, address: Address, key: SigningKey, name: str = "") -> Directory:
        check_address(address)
        entry = KeyEntry(
            key.key_id, key.public_b64, datetime.now(UTC).isoformat(timespec="seconds")
        )
        conn = self.connectors.get(address, Connector(address, name))
        conn = replace(conn, name=name or conn.name, keys=(*conn.keys, entry))
        return self.with_connector(conn)

    # -- file ----------------------------------------------------------------------------------
    def to_json(self) -> dict:
        """The signed body: serial, issue time and connectors."""
        heads = {"audit_heads": pinned_to_json(self.audit_heads)} if self.audit_heads else {}
        return {
            **heads,
            "serial": self.serial,
            "issued_at": self.issued_at,
            "connectors": [
                {
                    "address": str(c.address),
                    "name": c.name,
                    "keys": [_entry_json(k) for k in c.keys],
                    "encryption_keys": [_entry_json(k) for k in c.encryption_keys],
                }
                for c in sorted(self.connectors.values(), key=lambda c: c.address)
            ],
        }

    @classmethod
    def from_json(cls, data: dict, source: str = "directory") -> Directory:
        connectors: dict[Address, Connector] = {}
        seen: set[str] = set()
        items = data.get("connectors", [])
        if not isinstance(items, list):
            raise DirectoryError(f"{source}: connectors must be a list")
        for i, item in enumerate(items):
            try:
                address = Address.parse(item["address"])
                check_address(address)
                keys = tuple(_entry(k, encryption=False) for k in item.get("keys", []))
                enc = tuple(_entry(k, encryption=True) for k in item.get("encryption_keys", []))
            except (KeyError, TypeError, ValueError) as exc:
                raise DirectoryError(f"{source}: connector #{i + 1}: {exc}") from exc
            if address in connectors:
                raise DirectoryError(f"{source}: {address} is listed twice")
            for k in (*keys, *enc):
                if k.key_id in seen:
                    raise DirectoryError(f"{source}: key {k.key_id} is registered twice")
                seen.add(k.key_id)
            connectors[address] = Connector(address, item.get("name", ""), keys, enc)
        serial = data.get("serial", 0)
        if not isinstance(serial, int) or serial < 0:
            raise DirectoryError(f"{source}: serial must be a whole number")
        try:
            heads = pinned_from_json(data.get("audit_heads", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise DirectoryError(f"{source}: audit_heads: {exc}") from exc
        return cls(connectors, serial, str(data.get("issued_at", "")), heads)

    @classmethod
    def load(cls, path: Path, anchor: TrustAnchor) -> Directory:
        """The directory in ``path`` once its signature verifies against ``anchor``; a missing
        file is an empty directory."""
        data = _read(path)
        if data is None:
            return cls()
        try:
            body = anchor.verify(data, str(path))
        except AnchorError as exc:
            raise DirectoryError(str(exc)) from exc
        return cls.from_json(body, str(path))

    @classmethod
    def read_unsigned(cls, path: Path) -> Directory:
        """A format-1 (unsigned) directory, for the operators to check and sign once."""
        data = _read(path)
        if data is None:
            return cls()
        if data.get("format") != UNSIGNED_FORMAT:
            raise DirectoryError(f"{path}: not an unsigned directory (format 1)")
        return cls.from_json(data, str(path))

    def signed(self, key: SigningKey) -> dict:
        return sign_document(self.to_json(), key)

    def write_signed(self, path: Path, key: SigningKey) -> None:
        # Write-then-rename: a router re-reading the file never sees half of it.
        text = json.dumps(self.signed(key), ensure_ascii=False, indent=2) + "\n"
        write_atomic(path, text.encode())


def _read(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DirectoryError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DirectoryError(f"{path}: not a directory document")
    return data


def _entry_json(k: KeyEntry) -> dict:
    out = dict(k.__dict__)
    if out["revoked_at"] is None:
        del out["revoked_at"]  # absent, not null: the canonical form has one spelling
    return out


def _entry(data: dict, *, encryption: bool) -> KeyEntry:
    """A key entry as the file has it, checked: its id is recomputed from its public key (an id
    names one key only), its status is one of ``STATUSES``."""
    entry = KeyEntry(**data)
    if entry.status not in STATUSES:
        raise ValueError(f"key {entry.key_id}: status {entry.status!r} is not one of {STATUSES}")
    try:
        raw = base64.b64decode(entry.public_key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"key {entry.key_id}: public key is not base64") from exc
    try:
        key_id = suites.public_from_raw(raw, encryption=encryption).key_id
    except ValueError as exc:
        raise ValueError(f"key {entry.key_id}: {exc}") from None
    if key_id != entry.key_id:
        raise ValueError(f"key {entry.key_id}: the id does not match its public key")
    return entry


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
        held = path.with_suffix(hsm.REFERENCE_SUFFIX)
        if entry.status == "active" and held.exists():  # in a hardware module (hub.trust.hsm)
            key = hsm.load(held.read_text(encoding="utf-8").strip(), entry.key_id)
            return SigningKey(key.key_id, key)
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
