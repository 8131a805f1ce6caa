"""The routers stop taking new ingress when the audit log has gone too long without independent
time: a checkpoint signed more than ``acceptable_timestamp_failure_period_s`` ago that still has
no RFC 3161 token (hub.audit.timestamps).  Routing resumes by itself once the TSA has stamped it.
Only with ``tsa_url`` set; the decision is ``ingress_refusal``, pure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from prometheus_client import Gauge

from hub.audit.stamps import Stamps
from hub.audit.store import AuditStore
from hub.audit.timestamps import ingress_refusal
from hub.runtime.ingress.loop import IngressLoop

log = logging.getLogger("hub.router")

REFUSING = Gauge(
    "hub_ingress_refused", "1 while new ingress is refused for want of audit timestamps"
)


class TimestampGate:
    def __init__(
        self,
        router: IngressLoop,
        audit: Callable[[], AuditStore],
        period_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.router, self.audit, self.period_s, self.clock = router, audit, period_s, clock

    async def __call__(self) -> None:
        oldest = await asyncio.to_thread(lambda: Stamps(self.audit()).oldest_unstamped())
        reason = ingress_refusal(oldest, self.clock(), self.period_s)
        if reason != self.router.refusing:
            if reason:
                log.critical("refusing new ingress: %s; records wait in hub.ingress", reason)
            else:
                log.warning("taking new ingress again: the audit checkpoints are timestamped")
        self.router.refusing = reason
        REFUSING.set(1 if reason else 0)
