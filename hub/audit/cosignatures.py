"""Cosignatures of the audit log's tree heads by the agencies' connectors (C2SP tlog-cosignature).

A connector that checked a tree head against the one it kept (``connectors.witness``) signs a
statement that, as of a time, this is the largest consistent head it has seen of the log::

    cosignature/v1
    time <POSIX seconds>
    <the checkpoint's body: origin, size, base64 root, each line ending in a newline>

and sends the note signature line ``— <key id> base64(key hash || u64 time || signature)``.
The key name is the connector's signing key id as the directory lists it; the key hash is
SHA-256(name || 0x0A || type || public key)[:4] with type 0x04 for Ed25519 (the spec's) and
``0xff "cosignature/v1"`` for SM2 (none assigned).  A checkpoint with the cosignatures the hub
gathered is the operators' note with these lines appended: any C2SP client that knows the
agencies' keys checks them, and counts how many independent agencies vouched for the head.

Pure: no broker, no database.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass

from hub.trust import suites
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.trust.operators import OPERATORS
from hub.trust.suites import PublicKey

HEADER = "cosignature/v1\n"
DASH = "\u2014"


class CosignatureError(ValueError):
    """A cosignature that does not verify, or is not one; ``reason`` is a short label for
    metrics (never the record's contents)."""

    def __init__(self, message: str, reason: str = "bad_signature") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Cosignature:
    """One agency's cosignature of one head, as the hub keeps and publishes it."""

    tree_size: int
    root_hash: str
    cosigner: str  # the connector's address, e.g. MIB@350582
    key_id: str
    timestamp: int
    line: str  # the note signature line, without its newline


def signed_message(body: str, timestamp: int) -> bytes:
    if not 0 <= timestamp < 2**63:
        raise CosignatureError("a cosignature's time is a POSIX time below 2^63")
    return f"{HEADER}time {timestamp}\n{body}".encode()


def note_body(note: str) -> str:
    """A signed note's body with its final newline, without its signature lines."""
    body, sep, _ = note.partition("\n\n")
    if not sep:
        raise CosignatureError("not a signed note")
    return body + "\n"


def cosign(body: str, key: SigningKey, timestamp: int) -> str:
    """The signature line by which ``key`` cosigns the checkpoint with ``body``."""
    blob = (
        suites.cosigner_key_hash(key.key_id, key.public)
        + timestamp.to_bytes(8, "big")
        + key.sign(signed_message(body, timestamp))
    )
    return f"{DASH} {key.key_id} {base64.b64encode(blob).decode()}"


def open_cosignature(line: str, body: str, public: PublicKey) -> int:
    """The time of a cosignature ``line`` on the checkpoint ``body`` by ``public`` (named by
    its key id); raises CosignatureError unless it verifies."""
    parts = line.rstrip("\n").split(" ")
    if len(parts) != 3 or parts[0] != DASH or parts[1] != public.key_id:
        raise CosignatureError(f"not a signature line of {public.key_id}")
    try:
        blob = base64.b64decode(parts[2], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CosignatureError("the signature is not base64") from exc
    if len(blob) < 13 or blob[:4] != suites.cosigner_key_hash(public.key_id, public):
        raise CosignatureError("the key hash is not this key's")
    timestamp = int.from_bytes(blob[4:12], "big")
    if timestamp >= 2**63 or not public.verify(blob[12:], signed_message(body, timestamp)):
        raise CosignatureError("the signature does not verify")
    return timestamp


def cosigned_note(checkpoint: str, lines: list[str]) -> str:
    """The operators' signed checkpoint with the cosignature lines added after its own."""
    return checkpoint.rstrip("\n") + "\n" + "".join(f"{line}\n" for line in lines)


def record_of(cosigner: str, tree_size: int, line: str) -> bytes:
    """What a connector sends on ``hub.audit.cosignatures``."""
    data = {"cosigner": cosigner, "tree_size": tree_size, "cosignature": line}
    return json.dumps(data, separators=(",", ":")).encode()


def check_record(
    value: bytes, checkpoint_of: Callable[[int], tuple[str, str] | None], directory: Directory
) -> Cosignature:
    """The cosignature a record carries, once it verifies: ``checkpoint_of(size)`` gives the
    (root hash, signed checkpoint) the hub published at that size, ``directory`` the
    cosigner's keys.  Raises CosignatureError with its reason otherwise."""
    try:
        data = json.loads(value)
        cosigner = Address.parse(str(data["cosigner"]))
        size, line = data["tree_size"], data["cosignature"]
        if not isinstance(size, int) or not isinstance(line, str) or size < 1:
            raise TypeError("tree_size or cosignature")
        key_id = line.split(" ")[1] if line.count(" ") == 2 else ""
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CosignatureError("not a cosignature record", "malformed") from exc
    if cosigner == OPERATORS:
        raise CosignatureError("the operators cannot vouch for their own head", "operators")
    published = checkpoint_of(size)
    if published is None:
        raise CosignatureError(f"no head of size {size} was published", "unknown_head")
    owner = directory.key_owner(key_id)
    if owner is None or owner[0] != cosigner or owner[1].status == "revoked":
        raise CosignatureError(f"{key_id[:40]} is no usable key of {cosigner}", "unknown_key")
    public = directory.public_key(key_id)
    if public is None:
        raise CosignatureError(f"{key_id[:40]} has no public key", "unknown_key")
    root_hash, checkpoint = published
    timestamp = open_cosignature(line, note_body(checkpoint), public)
    return Cosignature(size, root_hash, str(cosigner), key_id, timestamp, line)
