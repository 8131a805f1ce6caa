"""Prometheus metrics of the router worker, served at /metrics of its web server."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

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
REPLAYS = Counter(
    "hub_dead_letter_replays_total", "Dead letters re-submitted by `hub dlq replay`", []
)
ROUTE_SECONDS = Histogram(
    "hub_route_seconds",
    "Time from reading an ingress record to its delivery or dead letter being stored",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
