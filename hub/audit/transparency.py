"""The audit log as a transparency log: a Merkle tree over its records, signed tree heads in the
C2SP checkpoint format, and inclusion proofs anyone can check without the hub.

The tree's leaves are the records' chain hashes in ``seq`` order (``hub.core.merkle``), so a
proof ties one record to a tree head, and a signed tree head ties the whole log up to its size
to the hub operators' key.  An agency that kept an earlier head can ask for a consistency proof
and see that nothing recorded up to then was changed or removed.

Checkpoint (c2sp.org/tlog-checkpoint) as a signed note (c2sp.org/signed-note)::

    <origin>
    <tree size>
    <base64 root hash>

    — <key name> <base64(4-byte key hash || Ed25519 signature of the three lines)>

The key name is the operators' key id; its key hash is the first four bytes of
SHA-256(name || "\\n" || 0x01 || raw public key), per the signed-note spec for Ed25519.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hub.core import merkle
from hub.trust import suites
from hub.trust.keys import SigningKey
from hub.trust.suites import Suite

if TYPE_CHECKING:  # the store is only passed in: a connector checking heads loads no SQLAlchemy
    from hub.audit.store import AuditStore
    from hub.audit.tiles import TiledTree

ORIGIN = "medfund-hub/audit"


def origin_of(suite: Suite) -> str:
    """The checkpoint origin of a log hashed by ``suite``: a log with another hash is another
    log, so its checkpoints name it (``medfund-hub/audit-sm3``); SHA-256's keeps the old name."""
    return ORIGIN if suite is suites.INTL else f"{ORIGIN}-{suite.hash_name}"


def suite_of_origin(origin: str) -> Suite | None:
    """The suite whose hash built the tree a checkpoint of ``origin`` commits to."""
    for suite in suites.SUITES.values():
        if origin == origin_of(suite):
            return suite
    return None


def tree_scheme(suite: Suite) -> str:
    return f"rfc9162-{suite.hash_name}"


def note_key_hash(name: str, public: bytes) -> bytes:
    return suites.note_key_hash(name, suites.public_from_raw(public))


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def signed_checkpoint(origin: str, size: int, root: bytes, key: SigningKey) -> str:
    body = checkpoint_body(origin, size, root)
    public = key.public.raw
    sig = note_key_hash(key.key_id, public) + key.sign(body.encode())
    return f"{body}\n\u2014 {key.key_id} {base64.b64encode(sig).decode()}\n"


def leaves(store: AuditStore, size: int) -> Iterator[bytes]:
    """The tree's leaf hashes of the first ``size`` records, streamed."""
    suite = store.suite
    return (merkle.leaf_hash(h.encode(), suite.digest) for h in store.iter_record_hashes(size))


def tiled(store: AuditStore, size: int) -> TiledTree:
    """The tree of the first ``size`` records, read from the log's tiles (``hub.audit.tiles``):
    O(log n) reads a root or a proof, whatever the log's length."""
    from hub.audit.tiles import TiledTree, TileLog

    return TiledTree(TileLog(store), size)


def prove(store: AuditStore, message_id: str, *, key: SigningKey | None) -> dict[str, Any]:
    """Inclusion proofs of every record about ``message_id`` in the tree of the log as it is now,
    with its signed head (unsigned when no key is given).

    The tree's size is fixed first and everything after reads only records up to it, so a sink
    appending meanwhile changes nothing: every record proved is in the tree proved against."""
    size = store.head()[0]
    trail = store.trail(message_id, upto=size)
    suite = store.suite
    tree = tiled(store, size)
    root = tree.root()
    records = [
        {
            "seq": r["seq"],
            "event_id": r["event_id"],
            "kind": r["kind"],
            "hash": r["hash"],
            "leaf_index": int(r["seq"]) - 1,
            "proof": [p.hex() for p in tree.inclusion(int(r["seq"]) - 1)],
        }
        for r in trail
    ]
    return {
        "scheme": tree_scheme(suite),
        "tree_size": size,
        "root": root.hex(),
        "checkpoint": signed_checkpoint(origin_of(suite), size, root, key) if key else None,
        "message_id": message_id,
        "records": records,
    }


def consistency(store: AuditStore, old_size: int) -> dict[str, Any]:
    """A proof that the tree of ``old_size`` records is a prefix of the current one."""
    size = store.head()[0]
    tree = tiled(store, size)
    return {
        "scheme": tree_scheme(store.suite),
        "old_size": old_size,
        "old_root": tree.root(0, old_size).hex(),
        "tree_size": size,
        "root": tree.root().hex(),
        "proof": [p.hex() for p in tree.consistency(old_size)],
    }


class CheckpointError(ValueError):
    """A checkpoint that is not a well-formed signed note of the expected key."""


def open_checkpoint(note: str, name: str, public: bytes) -> tuple[str, int, bytes]:
    """(origin, size, root) of a C2SP signed note once its signature by ``name`` (the raw
    ``public`` key, in its suite's wire form) verifies; raises CheckpointError otherwise."""
    body, sep, signatures = note.partition("\n\n")
    if not sep or body.count("\n") < 2:
        raise CheckpointError("not a signed note")
    body += "\n"
    lines = body.split("\n")
    try:
        origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    except (ValueError, IndexError) as exc:
        raise CheckpointError("not a checkpoint body") from exc
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != name:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if blob[:4] != note_key_hash(name, public):
            continue
        if suites.public_from_raw(public).verify(blob[4:], body.encode()):
            return origin, size, root
    raise CheckpointError(f"no valid signature by {name}")
