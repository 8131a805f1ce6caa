"""Dead letters: the reason codes, the record written to the dead-letter topic, its id."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    UNDECODABLE = "undecodable"  # not Avro single-object bytes, or a corrupt body
    UNKNOWN_SCHEMA = "unknown_schema"  # writer fingerprint not in schemas/avro
    NOT_AN_ENVELOPE = "not_an_envelope"  # valid Avro, but not an Envelope
    UNKNOWN_FAMILY = "unknown_family"
    SCHEMA_MISMATCH = "schema_mismatch"  # payload schema is not the family's
    INVALID_PAYLOAD = "invalid_payload"  # field rules (check digits, amounts, stage…)
    UNKNOWN_AGENCY = "unknown_agency"  # sender or recipient agency/region not acceptable
    UNKNOWN_SENDER = "unknown_sender"  # sender connector not in the directory
    BAD_SIGNATURE = "bad_signature"  # unknown key, key of another sender, or wrong signature
    POLICY_VIOLATION = "policy_violation"
    NO_ROUTE = "no_route"  # no connector for the recipient at any level
    UNSUPPORTED_ENCRYPTION = "unsupported_encryption"  # an unknown scheme, or an encrypted reply
    ENCRYPTION_MISMATCH = "encryption_mismatch"  # not encrypted to the receiving connector's key
    ROUTER_ERROR = "router_error"  # the router failed on this record (a bug): kept, not lost
    UNKNOWN_CONVERSATION = "unknown_conversation"  # a reply to no message the hub delivered
    ILLEGAL_TRANSITION = "illegal_transition"  # a reply out of order, from/to the wrong party
    INVALID_ID = "invalid_id"  # a message, correlation or causation id off the id alphabet
    ID_CONFLICT = "id_conflict"  # an id already delivered from another sender or with other content
    STALE = "stale"  # created longer ago than the freshness window allows
    FROM_FUTURE = "from_future"  # created later than now plus the allowed clock skew
    TOO_LARGE = "too_large"  # the record exceeds the hub's maximum ingress record size
    # Documents (hub.wire.documents): the manifest against the chunks that came before it.
    MISSING_CHUNK = "missing_chunk"  # a chunk the manifest names never came
    CORRUPT_CHUNK = "corrupt_chunk"  # the chunks are not those signed for (root, size, count)
    DOCUMENT_TOO_LARGE = "document_too_large"  # over max_document_bytes
    INVALID_DOCUMENT = "invalid_document"  # a manifest out of shape, or documents where none go
    DOCUMENT_IN_CLEAR = "document_in_clear"  # a document not sealed to the recipient
    INVALID_CHUNK = "invalid_chunk"  # a chunk out of shape, or a place already taken by others
    SUITE_FORBIDDEN = "suite_forbidden"  # signed or sealed under a suite the policy forbids here


#: A dead letter's detail names fields, codes and limits, never payload values, and is bounded.
MAX_DETAIL = 4096
#: Of an oversized record, the dead letter keeps this many leading bytes (and its SHA-256).
KEPT_HEAD = 1024


def bounded(detail: str, limit: int = MAX_DETAIL) -> str:
    """``detail`` cut to ``limit`` characters, saying so."""
    if len(detail) <= limit:
        return detail
    return detail[: limit - 20] + f"… ({len(detail)} chars)"


@dataclass(frozen=True)
class DeadLetter:
    dead_letter_id: str
    reason: str
    detail: str
    original: bytes
    source_topic: str
    source_partition: int
    source_offset: int
    dead_lettered_at: datetime
    message_id: str | None = None
    family: str | None = None
    sender: str | None = None
    recipient: str | None = None
    replay_of: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_record(self) -> dict[str, Any]:
        return {
            "dead_letter_id": self.dead_letter_id,
            "reason": self.reason,
            "detail": self.detail,
            "message_id": self.message_id,
            "family": self.family,
            "sender": self.sender,
            "recipient": self.recipient,
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "replay_of": self.replay_of,
            "dead_lettered_at": self.dead_lettered_at,
            "original": self.original,
        }


def dead_letter_id(
    original: bytes, topic: str, partition: int, offset: int, record_timestamp_ms: int
) -> str:
    """Stable across redeliveries of the same record, distinct for a new submission.

    The record timestamp tells apart two records that reuse an offset after the in-memory
    broker restarted; the content hash tells apart everything else.
    """
    h = hashlib.sha256()
    h.update(f"{topic}\0{partition}\0{offset}\0{record_timestamp_ms}\0".encode())
    h.update(original)
    return "dl-" + h.hexdigest()[:20]  # keep in step with hub.runtime.ingress.record.DEAD_LETTER_ID
