"""The hash chain and signed checkpoints of the transfer log: pure functions, no database.

Record ``n`` stores ``hash_n = SHA-256(hash_{n-1} + "\\n" + canonical_n)`` where ``canonical_n``
is the JSON of the record's columns (keys sorted, no spaces, ASCII escapes; ``signed`` and
``facts`` are the exact JSON strings stored).  ``hash_0`` is 64 zeros.  Changing any byte of
any record, removing, inserting or reordering records changes every later hash, so the first
record whose stored hash or link disagrees is the first bad one.

A chain alone can be recomputed by whoever edits the database.  Checkpoints close that door:
the hub signs ``(seq, hash_seq)`` with its Ed25519 key, and a rewritten chain no longer matches
a signature made before the rewrite.  Checkpoints can be exported and kept elsewhere, so that
deleting them along with the records is noticed too.

The same rules are restated, for outsiders, in ``ops/audit/verify_export.py`` (standard library
only); ``tests/test_audit_chain.py`` checks that the two agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.core.clock import iso_ms
from hub.trust import suites
from hub.trust.keys import SigningKey, verify
from hub.trust.suites import PublicKey, Suite

GENESIS = "0" * 64
CHECKPOINT_SCHEME = "hub-audit-checkpoint-v1"

#: The columns a record's hash covers, in the order exports list them.
CHAIN_COLUMNS = (
    "seq",
    "event_id",
    "kind",
    "occurred_at",
    "recorded_at",
    "message_id",
    "conversation_id",
    "family",
    "sender",
    "recipient",
    "routed_to",
    "status",
    "signed",
    "facts",
)


def chained_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a record's hash covers, its times as the chain writes them (ms, UTC)."""
    out = {name: record.get(name) for name in CHAIN_COLUMNS}
    for name in ("occurred_at", "recorded_at"):
        value = out[name]
        if isinstance(value, datetime):
            out[name] = iso_ms(value)
    return out


def canonical(record: Mapping[str, Any]) -> bytes:
    body = {name: record.get(name) for name in CHAIN_COLUMNS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def record_hash(prev_hash: str, record: Mapping[str, Any], suite: Suite = suites.INTL) -> str:
    """The chain hash, by the log's suite: SHA-256 (intl) or SM3 (gm)."""
    return suite.digest(prev_hash.encode() + b"\n" + canonical(record)).hex()


def json_text(value: Any) -> str:
    """How ``signed`` and ``facts`` are stored: canonical JSON, so a record has one text form."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head_hash: str
    signed_at: str  # ISO-8601 UTC with milliseconds, as hashed
    key_id: str
    signature: bytes

    def signing_bytes(self) -> bytes:
        return checkpoint_bytes(self.seq, self.head_hash, self.signed_at, self.key_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "scheme": CHECKPOINT_SCHEME,
            "seq": self.seq,
            "head_hash": self.head_hash,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Checkpoint:
        if d.get("scheme", CHECKPOINT_SCHEME) != CHECKPOINT_SCHEME:
            raise ValueError(f"unknown checkpoint scheme {d.get('scheme')!r}")
        return cls(
            int(d["seq"]),
            d["head_hash"],
            d["signed_at"],
            d["key_id"],
            bytes.fromhex(d["signature"]),
        )


def checkpoint_bytes(seq: int, head_hash: str, signed_at: str, key_id: str) -> bytes:
    return "\n".join([CHECKPOINT_SCHEME, str(seq), head_hash, signed_at, key_id]).encode()


def sign_checkpoint(key: SigningKey, seq: int, head_hash: str, signed_at: str) -> Checkpoint:
    sig = key.sign(checkpoint_bytes(seq, head_hash, signed_at, key.key_id))
    return Checkpoint(seq, head_hash, signed_at, key.key_id, sig)


@dataclass(frozen=True)
class Problem:
    """The first thing wrong, naming the record (or checkpoint) where it shows."""

    seq: int | None
    event_id: str | None
    what: str

    def __str__(self) -> str:
        where = f"record #{self.seq}" if self.seq is not None else "log"
        if self.event_id:
            where += f" ({self.event_id})"
        return f"{where}: {self.what}"


@dataclass
class Verdict:
    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    checkpoints: int = 0
    last_checkpoint_seq: int = 0
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def uncovered(self) -> int:
        """Records after the last good checkpoint: intact as a chain, not yet signed."""
        return max(0, self.head_seq - self.last_checkpoint_seq)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "checkpoints_verified": self.checkpoints,
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "records_after_last_checkpoint": self.uncovered,
            "first_bad_record": None
            if self.problem is None
            else {
                "seq": self.problem.seq,
                "event_id": self.problem.event_id,
                "problem": self.problem.what,
            },
            "notes": self.notes,
        }


PublicKeys = Callable[[str], PublicKey | None]


def verify_chain(
    records: Iterable[Mapping[str, Any]],
    checkpoints: Iterable[Checkpoint],
    public_key: PublicKeys,
    *,
    progress: Callable[[int], None] | None = None,
    suite: Suite = suites.INTL,
    pruned: Callable[[int], str | None] | None = None,
    start: tuple[int, str] = (0, GENESIS),
) -> Verdict:
    """Walk the records in ``seq`` order; stop at the first bad record or checkpoint.

    ``public_key`` answers which key may sign checkpoints (the hub operators' keys); a
    checkpoint by any other key is as bad as a forged one.  A log pruned after archiving
    starts after ``start`` (the last pruned record's seq and hash); a checkpoint inside the
    pruned range must name the hash ``pruned(seq)`` kept for it.
    """
    v = Verdict()
    by_seq: dict[int, Checkpoint] = {}
    for signed in sorted(checkpoints, key=lambda c: c.seq):
        key = public_key(signed.key_id)
        if key is None:
            v.problem = Problem(
                signed.seq, None, f"checkpoint signed by unknown or untrusted key {signed.key_id}"
            )
            return v
        if not verify(key, signed.signature, signed.signing_bytes()):
            v.problem = Problem(
                signed.seq, None, f"checkpoint signature does not verify ({signed.key_id})"
            )
            return v
        if signed.seq in by_seq and by_seq[signed.seq].head_hash != signed.head_hash:
            v.problem = Problem(signed.seq, None, "two validly signed checkpoints disagree")
            return v
        by_seq[signed.seq] = signed

    for seq, early in by_seq.items():
        if seq <= start[0]:
            if pruned is None or pruned(seq) != early.head_hash:
                v.problem = Problem(seq, None, "a checkpoint names another hash than the one "
                                    "kept for the pruned record there")  # fmt: skip
                return v
            v.checkpoints += 1
            v.last_checkpoint_seq = seq
    prev = start[1]
    recent: list[str] = [prev]  # hashes of the last few good records, to diagnose insertions
    expected = start[0] + 1
    v.head_seq, v.head_hash = start
    for rec in records:
        seq = int(rec["seq"])
        eid = rec.get("event_id")
        if seq != expected:
            what = (
                f"record #{expected} is missing (the log jumps from #{expected - 1} to #{seq})"
                if seq > expected
                else f"sequence goes back from #{expected - 1} to #{seq}"
            )
            v.problem = Problem(expected if seq > expected else seq, None, what)
            return v
        if rec.get("prev_hash") != prev:
            if rec.get("prev_hash") in recent[:-1]:
                what = (
                    f"does not follow #{seq - 1}: it links to an earlier record, so #{seq - 1} "
                    "was inserted (or records were reordered)"
                )
                v.problem = Problem(seq - 1, None, what)
            else:
                what = (
                    f"does not follow #{seq - 1}: its link to the previous record is wrong "
                    "(a record before it was deleted, reordered or altered)"
                )
                v.problem = Problem(seq, eid, what)
            return v
        computed = record_hash(prev, rec, suite)
        if computed != rec.get("hash"):
            v.problem = Problem(seq, eid, "content altered: the record does not match its hash")
            return v
        cp = by_seq.get(seq)
        if cp is not None:
            if cp.head_hash != computed:
                v.problem = Problem(
                    seq,
                    eid,
                    f"the chain up to here differs from the checkpoint signed at {cp.signed_at}: "
                    "records at or before it were rewritten",
                )
                return v
            v.checkpoints += 1
            v.last_checkpoint_seq = seq
        prev = computed
        recent = [*recent[-3:], computed]
        v.records += 1
        v.head_seq = seq
        v.head_hash = computed
        expected = seq + 1
        if progress is not None and v.records % 10000 == 0:
            progress(v.records)
    beyond = [cp for seq, cp in sorted(by_seq.items()) if seq > v.head_seq]
    if beyond:
        first_beyond = beyond[0]
        v.problem = Problem(
            v.head_seq + 1,
            None,
            f"records #{v.head_seq + 1}..#{first_beyond.seq} are gone: the checkpoint signed at "
            f"{first_beyond.signed_at} covered them",
        )
    return v
