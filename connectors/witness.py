"""The connector as a witness of the audit log: it keeps the last tree head it checked and takes
a new one only when it is consistent with it.

Every tree head (``tree_head`` from ``HUB@100000``, ``hub.runtime.tree_heads``) is checked:

- its checkpoint is a signed note by a key of the operators' connector in the directory, and
  names the same origin, size and root as the payload;
- against the head kept: a larger head must carry an RFC 9162 consistency proof *from the
  kept size and root* that verifies; the same size must have the same root; a smaller one is
  stale and changes nothing.

A head that fails is refused with :class:`TreeHeadMismatch` (counted, logged as critical, the
kept head left as it was: it is the agency's evidence).  A head whose proofs all start from
heads this connector never saw (it missed more heads than one carries proofs for) cannot be
checked from the head alone: the connector then makes the proof from the log's tiles as the
hub serves them (``tlog_url``, ``connectors.tiles``) and checks it like any other.  Only when
the tiles cannot be read either is it a *gap*, recorded with both heads so that an auditor can
ask the hub for the proof between them (``hub audit consistency --old-size N``), and the new
head is kept from then on.  A connector with no head kept starts from the head the operators
pinned in the signed directory (``hub.trust.pinned``), so its first head must be proved
consistent with that; only when the directory pins none is the first head taken on trust.

Every head checked against a kept or pinned one (``consistent`` or ``same``) is one the connector
can vouch for: :data:`VOUCHED` verdicts are cosigned (``hub.audit.cosignatures``).
"""

from __future__ import annotations

import base64
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from connectors.messages import InboxMessage, VerificationError
from connectors.tiles import RemoteTiles, TileFetchError
from hub.audit.transparency import CheckpointError, open_checkpoint, suite_of_origin
from hub.core import merkle
from hub.core.files import private_dir
from hub.trust.directory import Directory
from hub.trust.operators import OPERATORS

log = logging.getLogger("connectors.witness")

TREE_HEADS_CHECKED = Counter(
    "hub_connector_tree_heads_total",
    "Tree heads of the audit log this connector checked, by verdict",
    ["verdict"],
)


#: Verdicts on a head the connector checked against one it already trusted: it cosigns these.
VOUCHED = ("consistent", "same")


def pinned(directory: Directory, origin: str) -> KeptHead | None:
    """The head the directory pins for ``origin``, as if it had been kept."""
    for head in directory.audit_heads:
        if head.origin == origin:
            return KeptHead(head.origin, head.tree_size, head.root_hash, "")
    return None


class TreeHeadMismatch(VerificationError):
    """A tree head that is not consistent with the one kept: the log was rewritten or forked."""


@dataclass(frozen=True)
class KeptHead:
    origin: str
    tree_size: int
    root_hash: str
    checkpoint: str


@dataclass(frozen=True)
class Verdict:
    #: first | consistent | same | stale | gap
    kind: str
    head: KeptHead
    kept_before: KeptHead | None = None


#: (old size, new size) → a consistency proof from the served tiles, or None when they could
#: not be read (``connectors.tiles``).
Prover = Callable[[int, int], list[bytes] | None]


def check_head(
    kept: KeptHead | None,
    payload: dict[str, Any],
    operators_keys: Sequence[tuple[str, bytes]],
    prove: Prover | None = None,
) -> Verdict:
    """The verdict on a tree head's ``payload`` given the head kept; raises TreeHeadMismatch.
    ``operators_keys`` are (key id, raw public key) of the operators; ``prove``, when the head
    carries no proof from the kept size, asks the served tiles for one (checked like any)."""
    head = KeptHead(
        str(payload["origin"]),
        int(payload["tree_size"]),
        str(payload["root_hash"]),
        str(payload["checkpoint"]),
    )
    for name, public in operators_keys:
        try:
            origin, size, root = open_checkpoint(head.checkpoint, name, public)
        except CheckpointError:
            continue
        if (origin, size, root.hex()) != (head.origin, head.tree_size, head.root_hash):
            raise TreeHeadMismatch("tree head: the checkpoint names another head than its payload")
        break
    else:
        raise TreeHeadMismatch("tree head: the checkpoint is not signed by the hub operators")
    log_suite = suite_of_origin(head.origin)
    if log_suite is None:
        raise TreeHeadMismatch(f"tree head: {head.origin[:60]!r} names no log this hub keeps")
    if kept is None:
        return Verdict("first", head)
    if head.origin != kept.origin:
        raise TreeHeadMismatch(f"tree head: origin {head.origin!r} is not {kept.origin!r}")
    if head.tree_size < kept.tree_size:
        return Verdict("stale", head, kept)
    if head.tree_size == kept.tree_size:
        if head.root_hash != kept.root_hash:
            raise TreeHeadMismatch(
                f"tree head: size {head.tree_size} with another root than the one kept: the "
                "audit log was rewritten"
            )
        return Verdict("same", head, kept)
    proofs = [
        (str(p["old_root"]), p["path"])
        for p in payload.get("proofs", [])
        if int(p["old_size"]) == kept.tree_size
    ]
    source = "its own proof"
    if not proofs and prove is not None:
        fetched = prove(kept.tree_size, head.tree_size)
        if fetched is not None:
            proofs, source = [(kept.root_hash, [p.hex() for p in fetched])], "the served tiles"
    for old_root, path in proofs[:1]:
        try:
            ok = old_root == kept.root_hash and merkle.verify_consistency(
                kept.tree_size,
                head.tree_size,
                bytes.fromhex(kept.root_hash),
                bytes.fromhex(head.root_hash),
                [bytes.fromhex(p) for p in path],
                log_suite.digest,
            )
        except ValueError:  # not hex: a malformed proof is no proof, and must not stop the inbox
            ok = False
        if not ok:
            raise TreeHeadMismatch(
                f"tree head {head.tree_size} is not consistent with the head {kept.tree_size} "
                f"kept ({source}): records shown earlier were changed or removed"
            )
        return Verdict("consistent", head, kept)
    return Verdict("gap", head, kept)


def operators_keys(directory: Directory) -> list[tuple[str, bytes]]:
    conn = directory.connectors.get(OPERATORS)
    return [
        (k.key_id, base64.b64decode(k.public_key))
        for k in (conn.keys if conn else ())
        if k.status != "revoked"
    ]


class TreeHeadWitness:
    """The kept head and the gaps, in the connector's own SQLite file; ``tiles_url``, the hub's
    served log (``…/tlog``), to close what would be a gap with a proof made from its tiles."""

    def __init__(self, path: Path | str, tiles_url: str | None = None) -> None:
        self.tiles_url = tiles_url
        if isinstance(path, Path):
            private_dir(path.parent)
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS tree_head (origin TEXT PRIMARY KEY, tree_size INTEGER,"
            " root_hash TEXT, checkpoint TEXT, kept_at TEXT)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS tree_head_gaps (old_size INTEGER, old_root TEXT,"
            " new_size INTEGER, new_root TEXT, seen_at TEXT)"
        )
        self._db.commit()

    def kept(self, origin: str) -> KeptHead | None:
        row = self._db.execute(
            "SELECT origin, tree_size, root_hash, checkpoint FROM tree_head WHERE origin = ?",
            (origin,),
        ).fetchone()
        return None if row is None else KeptHead(row[0], int(row[1]), row[2], row[3])

    def gaps(self) -> list[tuple[int, str, int, str]]:
        return [
            (int(r[0]), r[1], int(r[2]), r[3])
            for r in self._db.execute(
                "SELECT old_size, old_root, new_size, new_root FROM tree_head_gaps ORDER BY rowid"
            )
        ]

    def observe(self, msg: InboxMessage, directory: Directory) -> Verdict:
        """Check a tree head message and keep it when it is good; raises TreeHeadMismatch."""
        if msg.envelope.sender != OPERATORS:
            raise TreeHeadMismatch(f"tree head from {msg.envelope.sender}, not {OPERATORS}")
        origin = str(msg.payload.get("origin"))
        try:
            kept = self.kept(origin) or pinned(directory, origin)
            verdict = check_head(
                kept, dict(msg.payload), operators_keys(directory), self._prover(origin)
            )
        except TreeHeadMismatch:
            TREE_HEADS_CHECKED.labels("inconsistent").inc()
            raise
        TREE_HEADS_CHECKED.labels(verdict.kind).inc()
        now = datetime.now(UTC).isoformat()
        if verdict.kind == "gap":
            before = verdict.kept_before
            assert before is not None
            self._db.execute(
                "INSERT INTO tree_head_gaps VALUES (?, ?, ?, ?, ?)",
                (before.tree_size, before.root_hash, verdict.head.tree_size,
                 verdict.head.root_hash, now),
            )  # fmt: skip
            log.error(
                "tree head %d cannot be checked against the head %d kept (no proof from it): "
                "recorded as a gap; ask for `hub audit consistency --old-size %d`",
                verdict.head.tree_size,
                before.tree_size,
                before.tree_size,
            )
        if verdict.kind in ("first", "consistent", "gap"):
            h = verdict.head
            self._db.execute(
                "INSERT OR REPLACE INTO tree_head VALUES (?, ?, ?, ?, ?)",
                (h.origin, h.tree_size, h.root_hash, h.checkpoint, now),
            )
        self._db.commit()
        return verdict

    def _prover(self, origin: str) -> Prover | None:
        suite = suite_of_origin(origin)
        if not self.tiles_url or suite is None:
            return None
        url = self.tiles_url

        def prove(old_size: int, new_size: int) -> list[bytes] | None:
            tiles = RemoteTiles(url, suite)
            try:
                return tiles.consistency(old_size, new_size)
            except (TileFetchError, ValueError) as exc:
                log.warning("no proof from %d to %d in the served tiles (%s)", old_size,
                            new_size, exc)  # fmt: skip
                return None
            finally:
                tiles.close()

        return prove

    def close(self) -> None:
        self._db.close()
