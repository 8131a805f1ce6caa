"""Beside the audit sink: asks the configured TSA (``tsa_url``) for an RFC 3161 token on every
signed checkpoint that has none (hub.audit.stamps), every ``tsa_interval_s``, in a thread of its
own so that an unreachable TSA never holds up the log.  An outage shows as a growing
``hub_audit_timestamp_failures_total`` and an old ``hub_audit_last_timestamp_seconds``; the
checkpoints signed meanwhile are stamped, oldest first, when the TSA answers again."""

from __future__ import annotations

import logging
import threading

from prometheus_client import Counter, Gauge

from hub.audit.stamps import Stamps
from hub.audit.store import AuditStore
from hub.audit.timestamps import TimestampClient, TimestampError

log = logging.getLogger("hub.audit")

STAMPED = Counter("hub_audit_timestamps_total", "Checkpoints given an RFC 3161 token")
FAILURES = Counter(
    "hub_audit_timestamp_failures_total", "Requests to the TSA that gave no token (an outage)"
)
LAST = Gauge("hub_audit_last_timestamp_seconds", "When the TSA last gave a checkpoint a token")
UNSTAMPED = Gauge("hub_audit_unstamped_checkpoints", "Signed checkpoints still without a token")


class Timestamper:
    def __init__(self, store: AuditStore, client: TimestampClient, *, interval_s: float) -> None:
        self.stamps, self.client, self.interval_s = Stamps(store), client, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def once(self) -> int:
        """One round: stamp what is pending; a failure is counted and logged, never raised."""
        try:
            done = self.stamps.stamp_pending(self.client)
        except TimestampError as exc:
            FAILURES.inc()
            log.warning("audit timestamps: %s; checkpoints wait for the next round", exc)
            done = 0
        else:
            if done:
                STAMPED.inc(done)
                LAST.set_to_current_time()
        UNSTAMPED.set(self.stamps.waiting())
        return done

    def start(self) -> Timestamper:
        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                try:
                    self.once()
                except Exception:  # the database: the next round tries again
                    log.exception("audit timestamps failed; will retry")

        self._thread = threading.Thread(target=loop, name="audit-timestamps", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
