"""The kinds of audit events, by name: what help texts and parsers list without importing the
events themselves (``hub.audit.events`` re-exports every one)."""

from __future__ import annotations

SUBMITTED = "submitted"
ROUTED = "routed"
DELIVERED = "delivered"
DEAD_LETTERED = "dead_lettered"
DUPLICATE_IGNORED = "duplicate_ignored"
DLQ_REPLAYED = "dlq_replayed"
RECEIPT = "receipt"
ACCEPTED = "accepted"
RETURNED = "returned"
FEEDBACK = "feedback"
CLOSED = "closed"
WEEKLY_REPORT = "weekly_report"
#: An officer looked at hand-offs in the console (who, what; a hand-off's id when one).
CONSOLE_LOOK = "console_look"
KEY_REGISTERED = "key_registered"
UNREADABLE = "unreadable_audit_record"
#: A record on hub.audit without a valid tag from the hub, or one the database refused: kept as
#: its hash and where it was read, never as the facts it claims (hub.audit.mac).
QUARANTINED = "quarantined_audit_record"
SLA_KINDS = {
    "WARNING": "sla_warning",
    "BREACH": "sla_breach",
    "ESCALATION": "sla_escalation",
    "FLIGHT_INSPECTION": "sla_flight_inspection",
}

#: Every kind the log knows, in the order a hand-off usually meets them (for help texts).
KINDS = (
    SUBMITTED,
    DLQ_REPLAYED,
    ROUTED,
    DELIVERED,
    DEAD_LETTERED,
    DUPLICATE_IGNORED,
    RECEIPT,
    ACCEPTED,
    RETURNED,
    FEEDBACK,
    CLOSED,
    WEEKLY_REPORT,
    CONSOLE_LOOK,
    *SLA_KINDS.values(),
    KEY_REGISTERED,
    UNREADABLE,
    QUARANTINED,
)
