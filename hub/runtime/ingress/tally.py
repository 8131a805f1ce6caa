"""The metrics and log lines of each outcome, the same on the single and the batched path.

Log lines name ids, families, addresses and reason codes; a dead letter's detail names fields
and codes, never payload values, so it is safe to log too.
"""

from __future__ import annotations

import logging

from hub.core.text import shown
from hub.routing.router import Delivered
from hub.runtime import metrics
from hub.runtime.ingress.record import IngressRecord
from hub.wire.deadletter import DeadLetter
from hub.wire.envelope import Envelope

log = logging.getLogger("hub.router")


def delivered(d: Delivered, *, level: int = logging.INFO) -> None:
    env, route = d.envelope, d.route
    metrics.ROUTED.labels(env.family, env.sender.agency, env.recipient.agency, route.via).inc()
    log.log(
        level,
        "routed %s %s %s → %s%s",
        env.family,
        env.message_id,
        env.sender,
        route.inbox,
        f" (fallback for {env.recipient})" if route.fallback else "",
    )


def duplicate(env: Envelope, *, level: int = logging.INFO) -> None:
    metrics.DUPLICATES.labels(env.family).inc()
    log.log(level, "duplicate %s %s ignored (already delivered)", env.family, env.message_id)


def dead_lettered(dl: DeadLetter, env: Envelope | None, record: IngressRecord) -> None:
    metrics.DEAD_LETTERED.labels(
        dl.reason,
        dl.family or "unknown",
        env.sender.agency if env else "unknown",
        env.recipient.agency if env else "unknown",
    ).inc()
    log.warning(
        "dead-lettered %s (%s) from %s: %s [%s]",
        shown(dl.message_id) if dl.message_id else f"{len(record.value)} bytes at {record.source}",
        dl.reason,
        dl.sender or "unknown sender",
        shown(dl.detail, 300),
        dl.dead_letter_id,
    )
