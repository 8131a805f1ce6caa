"""Audit events per second into the audit store, beside the router's rate from the same run.

    .venv/bin/python -m bench.audit_sink                          # 20,000 events, 2,000 messages
    .venv/bin/python -m bench.audit_sink --events 5000 --messages 500 --db sqlite

Three measurements, then one summary table:

1. router: starts its own ``hub run`` (embedded Tansu broker) in a temporary home, routes
   ``--messages`` signed clue transfers (``bench.loads.run_hub``) and the same number
   of raw records (``run_raw``).  The hub's own audit sink chains the router's events into
   ``<home>/audit.db``; the benchmark counts them per routed message (the router's own
   submitted/routed/delivered, plus any SLA events the ledger fired for those messages; the
   benchmark's clues ask for no deadline, so none fire within the run) and times how long
   after the last delivery the router's events were all in the log (is the in-hub sink keeping
   up?).  It waits at most ``--settle-s`` for the SLA events, which the SLA publisher sends
   one by one.
2. store, no broker: ``--events`` realistic audit events (clue transfers with their facts,
   receipts, some closures, built with ``hub.audit.emit`` from real sealed envelopes) appended
   with ``AuditStore.append`` in batches of ``--batch`` into a fresh SQLite file and a fresh
   PostgreSQL database: events/s, p50/p99 batch latency, peak Python memory of one batch
   (tracemalloc, measured on an extra batch after the timed run), size on disk; then
   ``--single-events`` appended one at a time (the per-event cost of a transaction).
3. sink through Kafka: a separate ``AuditSink`` (own ``app_id``, so its own consumer group, own
   store) reads ``hub.audit`` on the benchmark hub's broker; once it has caught up with what is
   already there (timed too: "backlog drain", the sink's rate when records are waiting),
   ``--events`` encoded events are produced and timed until the store has them.  The hub's own
   sink reads the same records at the same time (another group), on the same CPUs.

PostgreSQL: the databases are created and dropped like ``tests.databases.database``
(``HUB_TEST_PG_URL``, default postgres@127.0.0.1:5432).  Tests never run this and nothing
asserts its timings: they are machine-dependent.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import resource
import secrets
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaProducer
from sqlalchemy import Engine, func, select, text

from bench.loads import percentile, run_hub, run_raw
from bench.procs import peak_rss_mib
from consumers.audit_records import decode_event
from consumers.audit_sink import AuditSink
from hub.audit import emit
from hub.audit import events as ev
from hub.audit.events import AuditEvent, SubjectRef
from hub.audit.mac import AuditMac
from hub.audit.schema import audit_log, default_audit_url
from hub.audit.store import AppendResult, AuditStore
from hub.core.paths import PROJECT_ROOT
from hub.lifecycle.tables import sla_events
from hub.storage.engine import make_engine
from hub.trust.address import Address
from hub.trust.keys import SigningKey
from hub.wire import headers
from hub.wire.envelope import seal
from hub.wire.jsonpayload import from_json
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import AUDIT, inbox_topic
from tests.databases import database as test_database
from tests.hubproc import HubProcess, load_example, start_hub

MIB = Address.parse("MIB@350582")
PSB = Address.parse("PSB@350582")
ROUTER_KINDS = {ev.SUBMITTED, ev.ROUTED, ev.DELIVERED}
SLA_AUDIT_KINDS = set(ev.SLA_KINDS.values())


# -- realistic events --------------------------------------------------------------------------


class EventFactory:
    """Audit events the way the router emits them, for hand-offs between MIB and PSB.

    Each hand-off: the clue transfer (submitted, routed, delivered with the clue's facts), the
    receipt (submitted, routed, delivered, receipt) and, for one in four, the closure
    (submitted, routed, delivered, closed): 8 events on average, from real signed envelopes.
    """

    def __init__(self, registry: SchemaRegistry, mac: AuditMac | None = None) -> None:
        self.registry = registry
        self.mac = mac or AuditMac(secrets.token_bytes(32))
        self.keys = {MIB: SigningKey.generate(), PSB: SigningKey.generate()}
        self.subject_ref = SubjectRef(secrets.token_bytes(32))
        self.publisher = emit.AuditPublisher(registry, self.mac)
        self.clue_schema = registry.latest("clue_transfer")
        self.example = load_example("clue_transfer")
        self.at = datetime.now(UTC)
        self.offset = 0

    def _tick(self) -> datetime:
        self.at += timedelta(milliseconds=3)
        self.offset += 1
        return self.at

    def _message(
        self, family: str, payload: dict, sender: Address, recipient: Address, **ids: str
    ) -> list[AuditEvent]:
        env, raw = seal(
            self.registry,
            family=family,
            payload_schema=self.registry.latest(family),
            payload=payload,
            sender=sender,
            recipient=recipient,
            key=self.keys[sender],
            **ids,
        )
        part = self.offset % 6
        events = emit.submitted(
            raw, env, source=emit.source_of("hub.ingress", part, self.offset), at=self._tick()
        )
        events += emit.delivered(
            env,
            routed_to=recipient,
            via="direct",
            fallback=False,
            decided_at=self._tick(),
            delivered_at=self._tick(),
            inbox=emit.source_of(
                inbox_topic(recipient.agency, recipient.region), part % 3, self.offset
            ),
            payload=payload,
            subject_ref=self.subject_ref,
        )
        if env.correlation_id is not None:
            state = "CLOSED" if family == "closure" else "RECEIVED"
            step = emit.reply_applied(
                env, new_state=state, payload=payload, at=self._tick(), subject_ref=self.subject_ref
            )
            if step is not None:
                events.append(step)
        return events

    def handoff(self, i: int) -> list[AuditEvent]:
        doc = dict(self.example)
        doc["clue_id"] = f"FJ-QZ-JJ-2024-{i:06d}"
        doc["batch"] = {**doc["batch"], "sequence": i % 20 + 1}
        doc["amount_fen"] = 100_000 + (i * 7919) % 5_000_000
        doc["subject"] = {**doc["subject"], "credit_code": f"12350582MB{i:07d}F"}
        clue = from_json(self.clue_schema.raw, doc)
        events = self._message("clue_transfer", clue, MIB, PSB)
        original = events[0].message_id or ""
        receipt = {"received_at": self._tick(), "received_by": "晋江市公安局经侦大队", "note": None}
        events += self._message(
            "receipt", receipt, PSB, MIB, correlation_id=original, causation_id=original
        )
        if i % 4 == 3:
            closure = {
                "result": "VERIFIED_TRUE",
                "recovered_fen": doc["amount_fen"],
                "penalties_fen": doc["amount_fen"] // 2,
                "sanctions": [{"kind": "FINED", "count": 1}, {"kind": "INTERVIEW", "count": 2}],
                "note": None,
                "closed_at": self._tick(),
            }
            events += self._message(
                "closure", closure, PSB, MIB, correlation_id=original, causation_id=original
            )
        return events

    def events(self, n: int) -> list[AuditEvent]:
        out: list[AuditEvent] = []
        i = 0
        while len(out) < n:
            out += self.handoff(i)
            i += 1
        return out[:n]

    def encoded(self, events: list[AuditEvent]) -> list[tuple[bytes, bytes, list]]:
        """(key, value, headers) as ``AuditPublisher.publish`` puts them on ``hub.audit``."""
        out = []
        for e in events:
            value = self.publisher.encode(e)
            marks = [
                (headers.AUDIT_KIND, e.kind.encode()),
                (headers.AUDIT_MAC, self.mac.tag(value)),
            ]
            out.append(((e.conversation_id or e.message_id or e.event_id).encode(), value, marks))
        return out


# -- helpers -----------------------------------------------------------------------------------


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh, empty database: a new SQLite file, or a PostgreSQL database dropped afterwards."""
    fresh = tmp / f"db-{uuid.uuid4().hex[:8]}"
    fresh.mkdir()
    with test_database(kind, fresh) as url:
        yield url


def db_size_bytes(store: AuditStore) -> int:
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
    path = Path(store.engine.url.database or "")
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def kind_counts(store: AuditStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.kind, func.count()).group_by(audit_log.c.kind)).all()
    return {kind: int(n) for kind, n in rows}


def router_events(counts: dict[str, int]) -> int:
    return sum(n for kind, n in counts.items() if kind in ROUTER_KINDS)


def sla_audited(counts: dict[str, int]) -> int:
    return sum(n for kind, n in counts.items() if kind in SLA_AUDIT_KINDS)


def sla_fired(engine: Engine) -> tuple[int, int]:
    """SLA events the hub's ledger has fired, and how many of them it has published."""
    with engine.connect() as conn:
        fired = conn.execute(select(func.count()).select_from(sla_events)).scalar() or 0
        published = (
            conn.execute(
                select(func.count())
                .select_from(sla_events)
                .where(sla_events.c.published_at.is_not(None))
            ).scalar()
            or 0
        )
    return int(fired), int(published)


def first_at(samples: list[tuple[float, int]], value: int) -> float:
    """When the (non-decreasing) samples first reached ``value``."""
    return next(t for t, v in samples if v >= value)


def wait_quiet(
    read: Callable[[], int], *, quiet_s: float, timeout: float, at_least: int = 0
) -> list[tuple[float, int]]:
    """Poll ``read`` until it is >= ``at_least`` and unchanged for ``quiet_s``; the samples."""
    samples = [(time.perf_counter(), read())]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        samples.append((time.perf_counter(), read()))
        value = samples[-1][1]
        if value >= at_least and samples[-1][0] - first_at(samples, value) >= quiet_s:
            break
    return samples


class Sampler(threading.Thread):
    """Samples the hub's audit log by kind every 50 ms in the background."""

    def __init__(self, store: AuditStore) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.samples.append((time.perf_counter(), kind_counts(self.store)))
            self.halt.wait(0.05)

    def series(self, of: Callable[[dict[str, int]], int]) -> list[tuple[float, int]]:
        return [(t, of(c)) for t, c in list(self.samples)]

    def latest(self) -> dict[str, int]:
        return self.samples[-1][1] if self.samples else {}


def rate_text(rate: float) -> str:
    return "n/a" if math.isnan(rate) else f"{rate:,.0f} events/s"


# -- 1. the router and the in-hub sink ---------------------------------------------------------


def measure_router(hub: HubProcess, messages: int, timeout: float, settle_s: float) -> dict:
    bootstrap = hub.state.bootstrap
    hub_audit = AuditStore(default_audit_url(hub.home), migrate_schema=False)
    ledger = make_engine(hub.settings.effective_store_url)
    sampler = Sampler(hub_audit)
    try:
        # Keys present at start are recorded first (key_registered): not the router's doing.
        wait_quiet(hub_audit.count, quiet_s=2.5, timeout=30)
        before = kind_counts(hub_audit)
        sla_before, _ = sla_fired(ledger)
        sampler.start()
        print(f"hub: {messages} signed clue transfers …", file=sys.stderr)
        hub_res, size = run_hub(bootstrap, hub, messages, timeout)
        returned = time.perf_counter()
        # The router's own events (submitted, routed, delivered): complete once quiet.
        wait_quiet(lambda: router_events(sampler.latest()), quiet_s=2.0, timeout=timeout)
        series = sampler.series(router_events)
        routed_events = series[-1][1] - router_events(before)
        router_done = first_at(series, series[-1][1])
        # SLA events the ledger fired for these messages (ticks run every second), and how many
        # of them reached the audit log within --settle-s.
        fired = wait_quiet(lambda: sla_fired(ledger)[0], quiet_s=1.5, timeout=30)[-1][1]
        fired -= sla_before
        deadline = time.monotonic() + settle_s
        while (
            sla_audited(sampler.latest()) - sla_audited(before) < fired
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        sla_series = sampler.series(sla_audited)
        sla_done = sla_series[-1][1] - sla_audited(before)
        sla_first = next((t for t, v in sla_series if v > sla_audited(before)), returned)
        sla_last = first_at(sla_series, sla_series[-1][1])
    finally:
        sampler.halt.set()
        if sampler.is_alive():
            sampler.join()
        hub_audit.close()
        ledger.dispose()
    print(f"raw: {messages} records of {size} bytes …", file=sys.stderr)
    raw_res = run_raw(bootstrap, messages, size, timeout)
    n = max(hub_res["n"], 1)
    return {
        "size": size,
        "hub": hub_res,
        "raw": raw_res,
        "router_rss_kib": peak_rss_mib(hub.process.pid) * 1024,
        "router_per_message": routed_events / n,
        "sla_per_message": fired / n,
        # Negative: the log had them before the benchmark's inbox reader returned.
        "router_audit_lag_s": router_done - returned,
        "sla_fired": fired,
        "sla_audited": sla_done,
        "sla_rate": sla_done / (sla_last - sla_first) if sla_last > sla_first else float("nan"),
        "sla_after_s": sla_last - returned,
    }


# -- 2. the store alone ------------------------------------------------------------------------


def measure_append(url: str, events: list[AuditEvent], batch: int, extra: list[AuditEvent]) -> dict:
    store = AuditStore(url)  # the migration is not timed
    try:
        latencies: list[float] = []
        started = time.perf_counter()
        for i in range(0, len(events), batch):
            chunk = events[i : i + batch]
            t0 = time.perf_counter()
            result = store.append(chunk)
            latencies.append(time.perf_counter() - t0)
            assert result.appended == len(chunk), result
        seconds = time.perf_counter() - started
        size = db_size_bytes(store)
        tracemalloc.start()
        store.append(extra)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert store.count() == len(events) + len(extra)
    finally:
        store.close()
    return {
        "rate": len(events) / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "peak_kib": peak / 1024,
        "size_mib": size / 2**20,
        "bytes_per_event": size / len(events),
    }


def measure_decode(factory: EventFactory, events: list[AuditEvent]) -> float:
    encoded = factory.encoded(events)
    started = time.perf_counter()
    for _, value, _ in encoded:
        decode_event(factory.registry, value, "bench")
    return len(encoded) / (time.perf_counter() - started)


# -- 3. the sink through Kafka -----------------------------------------------------------------


class Meter:
    """Wraps one sink's ``append_batch`` and its store's ``append`` to see what each poll did."""

    def __init__(self, sink: AuditSink, ours: set[str]) -> None:
        self.ours = ours
        self.seen = 0  # of our events, appended
        self.batches: list[tuple[float, int, float]] = []  # (when, size, seconds in the sink)
        self._append_batch = sink.append_batch
        self._append = sink.store.append
        sink.append_batch = self.append_batch  # type: ignore[method-assign]
        sink.store.append = self.append  # type: ignore[method-assign]

    def append_batch(self, items: list[tuple[bytes, str]]) -> AppendResult:
        t0 = time.perf_counter()
        result = self._append_batch(items)
        self.batches.append((t0, len(items), time.perf_counter() - t0))
        return result

    def append(self, events: Sequence[AuditEvent], **kw: Any) -> AppendResult:
        result = self._append(events, **kw)
        mine = sum(e.event_id in self.ours for e in events)
        self.seen += mine if not result.skipped else min(mine, result.appended)
        return result


def measure_sink(hub: HubProcess, url: str, factory: EventFactory, n: int, timeout: float) -> dict:
    bootstrap = hub.state.bootstrap
    # Own app_id: own consumer group, so the hub's sink does not take our partitions.  The home
    # stays the hub's: the sink signs its checkpoints with the hub operators' key.
    settings = replace(hub.settings, app_id=f"bench-{uuid.uuid4().hex[:8]}", audit_url=url)
    events = factory.events(n)
    # Tag the records with the hub's own audit key, or its sink would quarantine them all.
    factory.mac = factory.publisher.mac = AuditMac.from_file(settings.audit_mac_path)
    payload = factory.encoded(events)
    hub_audit = AuditStore(default_audit_url(hub.home), migrate_schema=False)
    sink = AuditSink(settings, bootstrap)
    meter = Meter(sink, {e.event_id for e in events})
    try:
        # A new group starts at the beginning of hub.audit: first let it catch up with what the
        # hub's own sink has (the SLA publisher may still add a few while we wait).
        backlog = hub_audit.count()
        sink.start()
        samples = wait_quiet(lambda: sink.appended, quiet_s=0.0, timeout=timeout, at_least=backlog)
        # From the start of the first append (its poll had returned) to the backlog stored.
        backlog_s = samples[-1][0] - meter.batches[0][0] if meter.batches else float("nan")
        time.sleep(0.5)
        polls_before = len(meter.batches)
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        try:
            started = time.perf_counter()
            for key, value, marks in payload:
                producer.send(AUDIT.name, key=key, value=value, headers=marks)
            producer.flush()
            flushed = time.perf_counter()
        finally:
            producer.close()
        deadline = time.monotonic() + timeout
        while meter.seen < n and time.monotonic() < deadline:
            time.sleep(0.02)
        done = time.perf_counter()
        got = meter.seen
        polls = meter.batches[polls_before:]
        checkpoints = len(sink.store.checkpoints())
    finally:
        sink.stop()
        sink.store.close()
        hub_audit.close()
    busy = sum(s for _, _, s in polls)
    return {
        "rate": got / (done - started),
        "produce_rate": n / (flushed - started),
        "after_flush_s": done - flushed,
        "backlog": backlog,
        "backlog_rate": backlog / backlog_s if backlog_s > 0 else float("nan"),
        "got": got,
        "polls": len(polls),
        "mean_poll": sum(k for _, k, _ in polls) / max(len(polls), 1),
        "busy_share": busy / (done - started),
        "checkpoints": checkpoints,
    }


# -- the run -----------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000, help="audit events per store run")
    ap.add_argument("--messages", type=int, default=2000, help="clue transfers for the router")
    ap.add_argument("--batch", type=int, default=500, help="events per append (sink polls ≤1000)")
    ap.add_argument("--single-events", type=int, default=2000, help="events appended one by one")
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument(
        "--settle-s",
        type=float,
        default=20.0,
        help="how long to wait for the hub's SLA events to reach its audit log",
    )
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    # kafka-python logs a closed socket racing a metadata refresh when a client closes: noise.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]

    registry = SchemaRegistry.load(PROJECT_ROOT / "schemas" / "avro")
    factory = EventFactory(registry)
    t0 = time.perf_counter()
    print(f"building {args.events} audit events from sealed envelopes …", file=sys.stderr)
    events = factory.events(args.events + args.batch + args.single_events + 1)
    build_s = time.perf_counter() - t0
    main_events = events[: args.events]
    extra = events[args.events : args.events + args.batch]
    single = events[args.events + args.batch : -1]
    sample = factory.encoded(main_events[:2000])
    avg_value = sum(len(v) for _, v, _ in sample) / len(sample)
    kinds: dict[str, int] = {}
    for e in main_events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1

    append: dict[str, dict] = {}
    append1: dict[str, dict] = {}
    via_kafka: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for kind in dbs:
            print(
                f"store ({kind}): {args.events} events in batches of {args.batch} …",
                file=sys.stderr,
            )
            with database(kind, tmp) as url:
                append[kind] = measure_append(url, main_events, args.batch, extra)
            if args.single_events:
                print(f"store ({kind}): {args.single_events} events one by one …", file=sys.stderr)
                with database(kind, tmp) as url:
                    append1[kind] = measure_append(url, single, 1, events[-1:])
        decode_rate = measure_decode(factory, main_events)

        home = tmp / "hub"
        print(f"starting hub in {home} …", file=sys.stderr)
        hub = start_hub(home)
        try:
            router = measure_router(hub, args.messages, args.timeout, args.settle_s)
            for kind in dbs:
                print(f"sink ({kind}) via {AUDIT.name}: {args.events} events …", file=sys.stderr)
                with database(kind, tmp) as url:
                    via_kafka[kind] = measure_sink(hub, url, factory, args.events, args.timeout)
        finally:
            hub.stop()

    report(args, dbs, router, append, append1, via_kafka, decode_rate, kinds, avg_value, build_s)


def report(
    args: argparse.Namespace,
    dbs: list[str],
    router: dict,
    append: dict,
    append1: dict,
    via_kafka: dict,
    decode_rate: float,
    kinds: dict[str, int],
    avg_value: float,
    build_s: float,
) -> None:
    hub_res, raw_res = router["hub"], router["raw"]
    router_rate = hub_res["n"] / hub_res["seconds"]
    raw_rate = raw_res["n"] / raw_res["seconds"]
    per_message = router["router_per_message"] + router["sla_per_message"]
    needed = router_rate * per_message
    mix = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    print(
        f"\n{os.uname().machine}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
        f"embedded Tansu broker, fetch_max_wait_ms=100"
    )
    print(
        f"audit events: {args.events} ({mix}); {avg_value:.0f} bytes Avro each on average; "
        f"built in {build_s:.1f} s\n"
    )

    w = 48
    print("router (same run, same hub)")
    lines = [
        (
            f"hub: ingress → router → inbox ({hub_res['n']}/{args.messages})",
            f"{router_rate:,.0f} msg/s",
        ),
        (f"raw broker: produce → consume ({router['size']} B)", f"{raw_rate:,.0f} msg/s"),
        ("audit events per routed message", f"{per_message:.2f}"),
        ("  by the router (submitted, routed, delivered)", f"{router['router_per_message']:.2f}"),
        ("  by the SLA clock (fired in the ledger)", f"{router['sla_per_message']:.2f}"),
        ("→ audit events/s the router produces", f"{needed:,.0f} events/s"),
        ("in-hub sink: router's events all in the log", f"{router['router_audit_lag_s']:+.2f} s"),
        ("  after the last delivery was read (− = before)", ""),
        (
            f"SLA events in the hub's audit log after {args.settle_s:g} s",
            f"{router['sla_audited']:,}/{router['sla_fired']:,}",
        ),
        ("  published at (SLA publisher, serial)", rate_text(router["sla_rate"])),
    ]
    for label, value in lines:
        print(f"  {label:<{w}}{value:>18}")

    print("\naudit store and sink" + " " * (w - 18) + "".join(f"{d:>14}" for d in dbs))
    rows: list[tuple[str, Callable[[str], str]]] = [
        (f"append, batch {args.batch}: events/s", lambda d: f"{append[d]['rate']:,.0f}"),
        ("  batch latency p50 (ms)", lambda d: f"{append[d]['p50_ms']:.1f}"),
        ("  batch latency p99 (ms)", lambda d: f"{append[d]['p99_ms']:.1f}"),
        ("  peak Python memory, one batch (KiB)", lambda d: f"{append[d]['peak_kib']:,.0f}"),
        ("  size on disk (MiB)", lambda d: f"{append[d]['size_mib']:.1f}"),
        ("  bytes per event on disk", lambda d: f"{append[d]['bytes_per_event']:,.0f}"),
    ]
    if append1:
        rows += [
            (
                f"append, batch 1 ({args.single_events}): events/s",
                lambda d: f"{append1[d]['rate']:,.0f}",
            ),
            ("  per event p50 (ms)", lambda d: f"{append1[d]['p50_ms']:.2f}"),
            ("  per event p99 (ms)", lambda d: f"{append1[d]['p99_ms']:.2f}"),
        ]
    rows += [
        ("sink via Kafka: events/s (produce → stored)", lambda d: f"{via_kafka[d]['rate']:,.0f}"),
        (
            "  stored after the producer's flush (s)",
            lambda d: f"{via_kafka[d]['after_flush_s']:.2f}",
        ),
        ("  producer alone: events/s", lambda d: f"{via_kafka[d]['produce_rate']:,.0f}"),
        (
            "  polls appended, mean records per poll",
            lambda d: f"{via_kafka[d]['polls']} × {via_kafka[d]['mean_poll']:.0f}",
        ),
        ("  share of the time in decode + append", lambda d: f"{via_kafka[d]['busy_share']:.0%}"),
        ("  backlog read first (events)", lambda d: f"{via_kafka[d]['backlog']:,}"),
        ("  backlog drain: events/s", lambda d: f"{via_kafka[d]['backlog_rate']:,.0f}"),
        ("  checkpoints signed", lambda d: f"{via_kafka[d]['checkpoints']}"),
    ]
    for label, cell in rows:
        print(f"  {label:<{w}}" + "".join(f"{cell(d):>14}" for d in dbs))
    print(f"  {'decode only (Avro → AuditEvent): events/s':<{w}}{decode_rate:>14,.0f}")

    print("  (the hub's own sink reads the same hub.audit records meanwhile; hub, broker and this")
    print(f"  process share {os.cpu_count()} CPUs, and the producer shares this process's GIL)\n")
    for d in dbs:
        rate, drain = via_kafka[d]["rate"], via_kafka[d]["backlog_rate"]
        headroom = rate / needed if needed else float("inf")
        verdict = "yes" if headroom >= 1 else "no"
        missing = via_kafka[d]["got"] < args.events
        print(
            f"sink keeps up ({d}): {verdict} (headroom ×{headroom:.1f}: {rate:,.0f} events/s "
            f"vs {router_rate:,.0f} msg/s × {per_message:.2f} events/msg = {needed:,.0f}; "
            f"draining a backlog ×{drain / needed if needed else float('inf'):.1f})"
            + (f"  [ONLY {via_kafka[d]['got']} STORED]" if missing else "")
        )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"\nmemory: router process peak RSS {router['router_rss_kib'] / 1024:.0f} MiB; "
        f"benchmark process peak RSS {own / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
