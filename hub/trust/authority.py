"""The operators' side of the directory: apply key requests, retire and revoke keys, and sign
each new version with the directory key.

The directory key is Ed25519 and is not the hub's runtime key; its public half is the trust
anchor every router and connector is configured with.  On a production hub it lives offline:
the operators carry requests to it and the signed ``directory.json`` back.  A development hub
(embedded broker) keeps one in ``<home>/keys`` so ``hub run`` and ``hub keys new`` work on
their own, which is what ``development_authority`` does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from hub.core.config import Settings
from hub.trust import hsm
from hub.trust.address import Address
from hub.trust.directory import (
    UNSIGNED_FORMAT,
    Connector,
    Directory,
    DirectoryError,
    KeyEntry,
    private_key_path,
)
from hub.trust.keys import SigningKey
from hub.trust.requests import KeyRequest, check_request, make_request
from hub.trust.signed import AnchorError, TrustAnchor, issued_now

log = logging.getLogger("hub.trust.directory")


class DirectoryAuthority:
    """Holds the directory key; every change is a new serial, signed."""

    def __init__(self, path: Path, anchor: TrustAnchor, key: SigningKey) -> None:
        if key.key_id not in anchor.keys:
            raise DirectoryError(
                f"the directory key {key.key_id} is not in the trust anchor: readers would "
                "refuse what it signs"
            )
        self.path = path
        self.anchor = anchor
        self.key = key

    @classmethod
    def from_settings(cls, settings: Settings, key_file: Path | None = None) -> DirectoryAuthority:
        path = key_file or settings.directory_key_path
        if not path.exists() and not str(path).startswith(hsm.SCHEME):
            raise DirectoryError(
                f"no directory key at {path}: changes to the directory are made where the "
                "operators keep it (`hub directory apply --key FILE`); an agency writes a "
                "request with --request FILE and sends it to them"
            )
        try:
            anchor = TrustAnchor.load(settings.directory_anchor_path)
        except AnchorError as exc:
            raise DirectoryError(str(exc)) from exc
        return cls(settings.directory_path, anchor, directory_key(path))

    def current(self) -> Directory:
        return Directory.load(self.path, self.anchor)

    def publish(self, directory: Directory, *, base: Directory | None = None) -> Directory:
        """Sign ``directory`` as the next serial and write it."""
        serial = (base if base is not None else self.current()).serial + 1
        signed = replace(directory, serial=serial, issued_at=issued_now())
        signed.write_signed(self.path, self.key)
        log.info("directory serial %d signed by %s", serial, self.key.key_id)
        return signed

    def apply(self, request: KeyRequest) -> Directory:
        """Check ``request`` against the current directory, apply it, publish the result."""
        directory = self.current()
        check_request(request, directory)
        address = request.address
        published = self.publish(_applied(directory, request), base=directory)
        log.info("applied the %s request of %s (%s)", request.kind, address, request.fingerprint)
        return published

    def revoke(self, key_id: str, at: datetime) -> Address:
        """Mark a key revoked as of ``at``; returns its connector."""
        directory = self.current()
        for conn in directory.connectors.values():
            for field_name in ("keys", "encryption_keys"):
                entries: tuple[KeyEntry, ...] = getattr(conn, field_name)
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
                    self.publish(directory.with_connector(updated), base=directory)
                    log.warning("revoked key %s of %s", key_id, conn.address)
                    return conn.address
        raise DirectoryError(f"no key {key_id} in the directory")

    def sign_unsigned(self, unsigned: Path) -> Directory:
        """Sign a format-1 directory once (the upgrade from an unsigned one)."""
        return self.publish(Directory.read_unsigned(unsigned), base=Directory())


def _entry(data: dict, created_at: str) -> KeyEntry:
    return KeyEntry(str(data["key_id"]), str(data["public_key"]), created_at)


def _retire(entries: tuple[KeyEntry, ...]) -> tuple[KeyEntry, ...]:
    return tuple(replace(k, status="retired") if k.status == "active" else k for k in entries)


def directory_key(path: Path) -> SigningKey:
    """The directory key from its PEM file, or from the hardware module a ``pkcs11:`` URI in
    the ``directory_key_file`` setting names."""
    if str(path).startswith(hsm.SCHEME):
        key = hsm.load(str(path))
        return SigningKey(key.key_id, key)
    return SigningKey.load(path)


def init_directory_key(key_path: Path, anchor_path: Path, suite: str = "intl") -> SigningKey:
    """A new directory key (private, 0600) and the trust anchor naming it; refuses to replace
    either."""
    for path in (key_path, anchor_path):
        if path.exists():
            raise DirectoryError(f"{path} exists already; not replaced")
    if str(key_path).startswith(hsm.SCHEME):  # made in the module, where it stays
        made = hsm.generate(str(key_path), suite)
        key = SigningKey(made.key_id, made)
    else:
        key = SigningKey.generate(suite)
        key.save(key_path)
    TrustAnchor.of(key.public).save(anchor_path)
    log.info("directory key %s created; trust anchor %s", key.key_id, anchor_path)
    return key


def wants_dev_directory(settings: Settings) -> bool:
    """Whether this is a development hub, which holds its own directory key: ``dev_directory``
    ``auto`` (the embedded broker only), ``always`` or ``never``."""
    mode = settings.dev_directory.lower()
    return mode in {"1", "true", "yes", "always"} or (mode == "auto" and settings.embedded)


def authority_for(settings: Settings, key_file: Path | None = None) -> DirectoryAuthority:
    """The development authority on a development hub (made when missing), else the
    operators' directory key where they keep it."""
    if key_file is None and wants_dev_directory(settings):
        return development_authority(settings)
    return DirectoryAuthority.from_settings(settings, key_file)


def development_authority(settings: Settings) -> DirectoryAuthority:
    """The authority of a development hub: its directory key and anchor are made when missing,
    and an unsigned (format 1) directory left by an older hub is signed once."""
    key_path, anchor_path = settings.directory_key_path, settings.directory_anchor_path
    if not key_path.exists() and not anchor_path.exists():
        init_directory_key(key_path, anchor_path, settings.crypto_suite)
    authority = DirectoryAuthority.from_settings(settings)
    if _format(settings.directory_path) == UNSIGNED_FORMAT:
        authority.sign_unsigned(settings.directory_path)
        log.warning("signed the unsigned directory %s once", settings.directory_path)
    return authority


def _format(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None


def create_key(
    authority: DirectoryAuthority,
    keys_dir: Path,
    address: Address,
    name: str = "",
    suite: str = "intl",
    pkcs11: str | None = None,
) -> SigningKey:
    """Both sides at once, for a hub that holds its directory key (development): the agency's
    request is made and applied.  Returns the new signing key (made in the hardware module the
    ``pkcs11`` URI names, when one is given)."""
    request = make_request("register", address, keys_dir, name=name, suite=suite, pkcs11=pkcs11)
    authority.apply(request)
    key_id = request.body["signing_key"]["key_id"]
    if pkcs11:
        return SigningKey(key_id, hsm.load(pkcs11, key_id))
    return SigningKey.load(private_key_path(keys_dir, address, key_id))


def create_dev_directory(
    authority: DirectoryAuthority, keys_dir: Path, addresses: Iterable[str], suite: str = "intl"
) -> int:
    """Give every listed connector that has no key yet its key pairs (and an encryption key to
    one registered before end-to-end encryption); one new serial for all.  Returns how many
    connectors were made."""
    directory = authority.current()
    base = directory
    made = 0
    for text in addresses:
        address = Address.parse(text)
        conn = directory.connectors.get(address)
        if conn is None:
            request = make_request(
                "register", address, keys_dir, name=f"development connector {address}",
                suite=suite,
            )  # fmt: skip
        elif conn.encryption_key() is None:
            current = SigningKey.load(private_key_path(keys_dir, address, conn.keys[-1].key_id))
            request = make_request("rotate", address, keys_dir, signing=False, current=current,
                                   suite=suite)  # fmt: skip
        else:
            continue
        check_request(request, directory)
        directory = _applied(directory, request)
        made += conn is None
    if directory is not base:
        authority.publish(directory, base=base)
    return made


def _applied(directory: Directory, request: KeyRequest) -> Directory:
    body, now = request.body, issued_now()
    address = request.address
    conn = directory.connectors.get(address, Connector(address, str(body.get("name", ""))))
    if body.get("name"):
        conn = replace(conn, name=str(body["name"]))
    if body.get("signing_key"):
        conn = replace(conn, keys=(*_retire(conn.keys), _entry(body["signing_key"], now)))
    if body.get("encryption_key"):
        conn = replace(
            conn,
            encryption_keys=(*_retire(conn.encryption_keys), _entry(body["encryption_key"], now)),
        )
    return directory.with_connector(conn)
