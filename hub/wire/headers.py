"""Kafka record headers the hub writes and reads; all values are UTF-8 text.

Headers are hints for operators and consumers, never trusted for a decision: what matters is in
the signed envelope.  ``hub-replay-of`` marks a dead letter re-submitted by ``hub dlq replay``.
"""

REPLAY_OF = "hub-replay-of"  # on hub.ingress: the dead-letter id being replayed
ROUTED_TO = "hub-routed-to"  # on an inbox: the connector the router delivered to
VIA = "hub-via"  # on an inbox: "direct" or "fallback"
CHUNKS = "hub-chunks"  # on an inbox: where a message's document chunks lie (JSON)
REASON = "hub-reason"  # on hub.dead-letter: the reason code
AUDIT_KIND = "hub-audit-kind"  # on hub.audit: the event kind
AUDIT_MAC = "hub-audit-mac"  # on hub.audit: hex HMAC-SHA256 of the value (hub.audit.mac)
SLA_KIND = "hub-sla-kind"  # on hub.sla-events: WARNING, BREACH, ESCALATION, FLIGHT_INSPECTION
