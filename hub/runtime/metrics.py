"""Prometheus metrics of the router worker, served at /metrics of its web server."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

ROUTED = Counter(
    "hub_messages_routed_total",
    "Messages delivered to an inbox",
    ["family", "sender_agency", "recipient_agency", "via"],
)
DEAD_LETTERED = Counter(
    "hub_messages_dead_lettered_total",
    "Messages sent to the dead-letter topic",
    ["reason", "family", "sender_agency", "recipient_agency"],
)
DUPLICATES = Counter(
    "hub_messages_duplicate_total",
    "Redelivered messages the router had already delivered (skipped)",
    ["family"],
)
CHUNKS = Counter(
    "hub_document_chunks_total",
    "Document chunks read from hub.ingress: kept for their envelope, or repeats of one kept",
    ["outcome"],
)
REPLAYS = Counter(
    "hub_dead_letter_replays_total", "Dead letters re-submitted by `hub dlq replay`", []
)
REDELIVERED = Counter(
    "hub_messages_redelivered_total",
    "Delivered, unreceived messages published again because the broker had lost them",
)
TRANSIENT_FAILURES = Counter(
    "hub_ingress_transient_failures_total",
    "Failures of the broker or the database the router waited out and retried (nothing committed)",
    ["error"],
)
ROUTE_SECONDS = Histogram(
    "hub_route_seconds",
    "Router time per ingress record, from its decision to its audit events acknowledged (in a "
    "batch: the segment's time divided by its records)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_RECORDS = Histogram(
    "hub_ingress_batch_records",
    "Records completed together (one segment of an ingress batch)",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
BATCH_SECONDS = Histogram(
    "hub_ingress_batch_seconds",
    "Time to complete one segment: writes acknowledged, recorded, audited",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Lifecycle durations run from delivery on the hub's clock (hub.core.clock), so a test that
# moves the clock sees the durations it simulated.
_LIFECYCLE_BUCKETS = (
    60,
    300,
    900,
    3600,
    4 * 3600,
    8 * 3600,
    86400,
    3 * 86400,
    7 * 86400,
    30 * 86400,
    60 * 86400,
)
TIME_TO_RECEIPT = Histogram(
    "hub_time_to_receipt_seconds",
    "From delivery of an original to the recipient's receipt (签收)",
    ["family"],
    buckets=_LIFECYCLE_BUCKETS,
)
TIME_TO_CLOSE = Histogram(
    "hub_time_to_close_seconds",
    "From delivery of an original to its closure (办结, or an invoice verification result)",
    ["family"],
    buckets=_LIFECYCLE_BUCKETS,
)
OPEN_OBLIGATIONS = Gauge(
    "hub_open_obligations",
    "Obligations not yet fulfilled, from the ledger at scrape time",
    ["recipient", "family", "stage"],
)
UNRECEIVED_OLDEST = Gauge(
    "hub_unreceived_oldest_seconds",
    "Age of the oldest original each recipient has not signed for (签收), on the hub's clock, "
    "from the ledger at scrape time",
    ["recipient"],
)
_SLA_LABELS = ["family", "stage", "debtor_agency"]
SLA_WARNINGS = Counter("hub_sla_warnings_total", "SLA warnings fired by this worker", _SLA_LABELS)
SLA_BREACHES = Counter("hub_sla_breaches_total", "SLA breaches fired by this worker", _SLA_LABELS)
SLA_ESCALATIONS = Counter(
    "hub_sla_escalations_total", "Escalations after a breach fired by this worker", _SLA_LABELS
)
SLA_FLIGHT_INSPECTIONS = Counter(
    "hub_sla_flight_inspections_total",
    "High-risk clues flagged for 飞行检查 after their result deadline passed",
    _SLA_LABELS,
)
SLA_COUNTERS = {
    "WARNING": SLA_WARNINGS,
    "BREACH": SLA_BREACHES,
    "ESCALATION": SLA_ESCALATIONS,
    "FLIGHT_INSPECTION": SLA_FLIGHT_INSPECTIONS,
}
RECEIPTS = Counter(
    "hub_receipts_total",
    "Receipts (签收) of originals, by whether they came before the receipt deadline: the "
    'receipt SLO\'s events (on_time="false" are its errors)',
    ["family", "on_time"],
)
JOB_STUCK = Gauge(
    "hub_job_stuck",
    "1 while a run of this periodic job (sla-clock, tree-heads, prune, audit-keys, redeliver) "
    "has taken longer than it should, else 0 (label task, not job: Prometheus keeps job for the "
    "scrape job)",
    ["task"],
)
JOB_LEASE_HELD = Gauge(
    "hub_job_lease_held",
    "1 while this process holds the lease of a job that must run once (tree-heads, prune), "
    "else 0: across a hub's processes the sum is 1 per job, 0 for at most one lease period",
    ["task"],
)
ROUTER_READY = Gauge(
    "hub_router_ready",
    "1 once this worker's router has joined the ingress group and the store answers, else 0",
)
KEY_EXPIRY = Gauge(
    "hub_key_expiry_timestamp_seconds",
    "When each connector's active key is due for rotation (created_at + key_lifetime_days), "
    "from the directory the router holds",
    ["connector", "use"],
)
CONSUMER_LAG = Gauge(
    "hub_consumer_lag",
    "Records not yet committed by the router, per ingress partition assigned to this worker "
    "(fetch high watermark minus committed offset)",
    ["topic", "partition"],
)


def set_open_obligations(rows: list[tuple[str, str, str, int]]) -> None:
    # Cleared first: a (recipient, family, stage) with nothing open must read 0 / vanish, not
    # keep its last value.
    OPEN_OBLIGATIONS.clear()
    for recipient, family, stage, n in rows:
        OPEN_OBLIGATIONS.labels(recipient, family, stage).set(n)


def set_unreceived_oldest(rows: list[tuple[str, datetime]], now: datetime) -> None:
    UNRECEIVED_OLDEST.clear()
    for recipient, since in rows:
        UNRECEIVED_OLDEST.labels(recipient).set(max(0.0, (now - since).total_seconds()))


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


def set_consumer_lag(lags: dict[tuple[str, int], int]) -> None:
    CONSUMER_LAG.clear()
    for (topic, partition), lag in lags.items():
        CONSUMER_LAG.labels(topic, str(partition)).set(lag)


def set_key_expiry(expiries: dict[tuple[str, str], float]) -> None:
    KEY_EXPIRY.clear()
    for (connector, use), at in expiries.items():
        KEY_EXPIRY.labels(connector, use).set(at)
