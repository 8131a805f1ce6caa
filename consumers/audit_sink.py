"""The audit sink: chains every audit event into the audit store.

Events come two ways: the router's fact rows in the hub's SQL store (one per ingress record,
written with its outcome: ``consumers.fact_drain``) and records on ``hub.audit`` (SLA events,
console looks, key registrations).  At-least-once: a batch is appended (one transaction) before
its offsets are committed and its fact rows deleted; after a crash the batch is read again and
the store skips the event ids it already has.
The sink also signs checkpoints of the chain head with the hub operators' key, every
``audit_checkpoint_every`` records or ``audit_checkpoint_interval_s`` seconds, whichever
comes first.

It runs as a thread of ``hub run`` by default, or as its own process (``hub audit sink``) when
the hub's settings say ``audit_sink = false``; two sinks in one consumer group share nothing
but the database, which serialises their appends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

from consumers.audit_records import decode_event, quarantined
from consumers.cosignatures import CosignatureCollector
from consumers.fact_drain import FactDrain, Taken
from consumers.group_consumer import group_consumer
from consumers.timestamper import Timestamper
from hub.audit.events import AuditEvent
from hub.audit.mac import AuditMac
from hub.audit.store import AppendResult, AuditStore
from hub.audit.timestamps import TimestampClient
from hub.core.config import Settings
from hub.core.restarting import start_restarting
from hub.runtime.failures import is_transient
from hub.storage.audit_facts import AuditFacts
from hub.storage.engine import safe_url
from hub.storage.store import Store
from hub.trust.keys import SigningKey
from hub.wire import headers
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import AUDIT, audit_sink_group

log = logging.getLogger("hub.audit.sink")

APPENDED = Counter("hub_audit_events_total", "Events appended to the audit log, by kind", ["kind"])
REPEATS = Counter(
    "hub_audit_repeats_total", "Redelivered audit events the log already had (skipped)"
)
HEAD = Gauge("hub_audit_head_seq", "Sequence number of the newest record of the audit log")
CHECKPOINTS = Counter("hub_audit_checkpoints_total", "Checkpoints of the audit chain signed")
LAST_CHECKPOINT = Gauge(
    "hub_audit_last_checkpoint_timestamp_seconds", "When this sink last signed a checkpoint"
)
LAG = Gauge(
    "hub_audit_sink_lag",
    "Audit records not yet appended by this sink: on hub.audit (high watermark minus position, "
    "over its partitions) and the router's fact rows waiting in the store",
)
#: A record read from hub.audit: its bytes, where it was read, and its tag header if any.
Item = tuple[bytes, str] | tuple[bytes, str, bytes | None]


class Checkpointer:
    """Decides when to sign the head: after enough records or enough time."""

    def __init__(
        self,
        store: AuditStore,
        key: Callable[[], SigningKey],
        *,
        every: int,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.key = key
        self.every = every
        self.interval_s = interval_s
        self.clock = clock
        self._pending = 0
        self._since: float | None = None

    def note(self, appended: int) -> None:
        if appended and self._since is None:
            self._since = self.clock()
        self._pending += appended

    @property
    def pending(self) -> int:
        return self._pending

    def due(self) -> bool:
        if self._pending <= 0:
            return False
        return self._pending >= self.every or (
            self._since is not None and self.clock() - self._since >= self.interval_s
        )

    def maybe_sign(self) -> bool:
        if not self.due():
            return False
        return self.sign()

    def sign(self) -> bool:
        cp = self.store.checkpoint(self.key())
        self._pending = 0
        self._since = None
        if cp is not None:
            CHECKPOINTS.inc()
            LAST_CHECKPOINT.set_to_current_time()
        return cp is not None


class AuditSink:
    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        *,
        store: AuditStore | None = None,
        key: Callable[[], SigningKey] | None = None,
        max_records: int = 1000,
        facts: FactDrain | None = None,
    ) -> None:
        """``facts``: where the router's fact rows wait (by default the hub's store, opened when
        the sink starts reading)."""
        self.settings = settings
        self.bootstrap = bootstrap
        self.registry = SchemaRegistry.load(settings.schemas_path)
        self.store = store or AuditStore(
            settings.effective_audit_url, new_log_suite=settings.crypto_suite
        )
        self.key = key or self._operators_key
        self.max_records = max_records
        self.checkpointer = Checkpointer(
            self.store,
            self.key,
            every=settings.audit_checkpoint_every,
            interval_s=settings.audit_checkpoint_interval_s,
        )
        self.mac = AuditMac.from_file(settings.audit_mac_path, settings.crypto_suite)
        self.timestamper = (
            Timestamper(self.store, TimestampClient(settings.tsa_url),
                        interval_s=settings.tsa_interval_s) if settings.tsa_url else None
        )  # fmt: skip
        #: Gathers the agencies' cosignatures of tree heads (started with the sink's thread).
        self.cosignatures: CosignatureCollector | None = None
        self.facts = facts
        self.appended = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _operators_key(self) -> SigningKey:
        from hub.trust.directory import load_signing_key
        from hub.trust.directory_file import load_directory
        from hub.trust.operators import OPERATORS

        if not hasattr(self, "_key"):
            directory = load_directory(self.settings)
            self._key = load_signing_key(self.settings.keys_dir, OPERATORS, directory)
        return self._key

    # -- one batch, no broker needed ------------------------------------------------------------
    def append_batch(self, items: list[Item], taken: Taken | None = None) -> AppendResult:
        """Check, decode and append ``(value, where, tag)`` items after the events of fact rows
        (``taken``); returns what the store did.

        A record whose tag does not verify is quarantined.  If the database refuses the batch
        for a lasting reason (a passing one raises, and the batch is tried again), each record is
        appended alone and the one it refuses is quarantined: one record never stalls the log.
        """
        facts = taken.events if taken is not None else []
        events = facts + [
            decode_event(
                self.registry,
                item[0],
                item[1],
                authentic=self.mac.verify(item[0], item[2] if len(item) > 2 else None),
            )
            for item in items
        ]
        try:
            result = self.store.append(events)
        except Exception as exc:
            if is_transient(exc):
                raise
            origins = taken.origins if taken is not None else []
            result = self._append_one_by_one([*origins, *items], events)
        self.appended += result.appended
        if result.skipped:
            REPEATS.inc(result.skipped)
        for kind, n in result.kinds.items():
            APPENDED.labels(kind).inc(n)
        HEAD.set(result.head_seq)
        self.checkpointer.note(result.appended)
        return result

    def _append_one_by_one(self, items: list[Item], events: list[AuditEvent]) -> AppendResult:
        total = AppendResult(0, 0, 0)
        for item, event in zip(items, events, strict=True):
            try:
                one = self.store.append([event])
            except Exception as exc:
                if is_transient(exc):
                    raise
                one = self.store.append([quarantined(item[0], item[1], type(exc).__name__)])
            total = total.plus(one)
        return total

    # -- the consumer loop ----------------------------------------------------------------------
    def _consumer(self) -> Any:
        return group_consumer(self.settings, self.bootstrap, topic=AUDIT.name,
                              group=audit_sink_group(self.settings.app_id),
                              client_id="hub-audit-sink", instance="audit-sink",
                              max_poll_records=self.max_records)  # fmt: skip

    def run(self) -> None:
        """Consume until :meth:`stop`; each round is one append of the fact rows and records
        read, then the commit of the records' offsets and the deletion of the rows."""
        hub_store: Store | None = None
        drain = self.facts
        if drain is None:  # the hub's store, where the router writes its facts
            hub_store = Store(self.settings.effective_store_url)
            drain = FactDrain(AuditFacts(hub_store.engine), self.mac)
        try:
            consumer = self._consumer()
        except Exception:
            if hub_store is not None:
                hub_store.close()
            raise
        log.info(
            "audit sink reading %s and the router's facts into %s",
            AUDIT.name,
            safe_url(self.settings.effective_audit_url),
        )
        try:
            while not self._stop.is_set():
                taken = self._take(drain)
                # Rows waiting: take what the topic has without waiting for more.
                wait_ms = 0 if taken.ids else 100
                polled = consumer.poll(timeout_ms=wait_ms, max_records=self.max_records)
                items: list[Item] = [
                    (
                        rec.value or b"",
                        f"{rec.topic}/{rec.partition}@{rec.offset}",
                        _header(rec.headers, headers.AUDIT_MAC),
                    )
                    for records in polled.values()
                    for rec in records
                ]
                if items or taken.ids:
                    result = self._append_until_done(items, taken)
                    if items:
                        consumer.commit()
                    self._forget(drain, taken)
                    log.debug(
                        "audit: %d appended, %d repeats, head #%d",
                        result.appended,
                        result.skipped,
                        result.head_seq,
                    )
                LAG.set(_lag(consumer) + drain.pending)
                self._checkpoint_quietly()
        finally:
            self._checkpoint_quietly(force=True)
            close_consumer(consumer)
            if hub_store is not None:
                hub_store.close()
            log.info("audit sink stopped after appending %d records", self.appended)

    def _take(self, drain: FactDrain) -> Taken:
        try:
            return drain.take(self.max_records)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("hub store unavailable for the router's facts (%s)", type(exc).__name__)
            self._stop.wait(1.0)
            return Taken()

    def _forget(self, drain: FactDrain, taken: Taken) -> None:
        try:
            drain.done(taken)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # The rows are read again and their events skipped as repeats: nothing is lost.
            log.warning("fact rows not deleted (%s); they will be read again", type(exc).__name__)

    def _append_until_done(self, items: list[Item], taken: Taken | None = None) -> AppendResult:
        """The batch appended, waiting out a database that is away (nothing committed meanwhile)."""
        delay = 0.5
        while True:
            try:
                return self.append_batch(items, taken)
            except Exception as exc:
                if not is_transient(exc) or self._stop.is_set():
                    raise
                name = type(exc).__name__
                log.warning("audit store unavailable (%s); retrying in %.1f s", name, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _checkpoint_quietly(self, *, force: bool = False) -> None:
        try:
            if force:
                if self.checkpointer.pending:
                    self.checkpointer.sign()
            else:
                self.checkpointer.maybe_sign()
        except Exception:
            # No key yet, database busy: the chain is intact without the checkpoint, and the
            # next round signs it.
            log.exception("audit checkpoint failed; will retry")

    def start(self) -> AuditSink:
        self._thread = start_restarting("audit-sink", self.run, self._stop, log, retry_s=2.0)
        if self.timestamper is not None:
            self.timestamper.start()
        self.cosignatures = CosignatureCollector(self.settings, self.bootstrap).start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self.timestamper is not None:
            self.timestamper.stop(timeout)
        if self.cosignatures is not None:
            self.cosignatures.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)


def close_consumer(consumer: Any) -> None:
    """Close, leaving the group only if this member got partitions.

    A member that leaves while its first join is still pending jams the embedded broker's group
    (Tansu then assigns nothing to the next member, seen for minutes: a sink stopped because its
    hub was killed right after start left the next sink appending nothing).  Such a member just
    drops its connections and its session expires, as if it had crashed; Apache Kafka treats
    both the same.  Bounded: with the broker already gone, leaving would retry for ever."""
    if consumer.assignment():
        consumer.close(autocommit=False, timeout_ms=5000)
        return
    coordinator = getattr(consumer, "_coordinator", None)
    client = getattr(consumer, "_client", None)
    if coordinator is None or client is None:  # another kafka-python: its own close, then
        consumer.close(autocommit=False, timeout_ms=5000)
        return
    coordinator._close_heartbeat()
    client.close()


def _header(items: Any, name: str) -> bytes | None:
    for key, value in items or ():
        if key == name:
            return bytes(value)
    return None


def _lag(consumer: Any) -> int:
    """Behind the high watermark, over the assigned partitions (what the last fetches told)."""
    behind = 0
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is None:
            continue
        try:
            behind += max(0, high - consumer.position(tp))
        except Exception:  # no position yet (being reassigned): counted at the next poll
            continue
    return behind
