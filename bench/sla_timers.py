"""Benchmark: the SLA timer tick with a large ledger of open obligations.

    .venv/bin/python -m bench.sla_timers                       # 1,000,000 on SQLite and PostgreSQL
    .venv/bin/python -m bench.sla_timers --count 100000 --db sqlite
    .venv/bin/python -m bench.sla_timers --paced    # as `hub run` ticks: at the next deadline

Fills the ``obligations`` table with ``--count`` open obligations whose deadlines are spread
over the next 60 days, except ``--due-per-tick`` × ``--ticks`` of them that fall due one tick
interval after another.  It then runs ``SlaClock.tick`` once per simulated interval and reports,
per database:

* time and peak Python memory (tracemalloc) of an idle tick (nothing due) and of the ticks that
  fire ``--due-per-tick`` breaches each, plus the process's max RSS;
* the delay between each deadline and its breach event being recorded: the wait until the
  next tick (on average half the interval) plus the time the tick took to reach it.

PostgreSQL: ``--pg-url`` names the server; the benchmark creates (and drops) a database
``hub_bench`` on it.  Tests never run this and nothing asserts its timings.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from hub.lifecycle.ledger import Ledger
from hub.lifecycle.tables import obligations
from hub.runtime.jobs import Job, wait_after
from hub.sla.clock import SlaClock
from hub.storage.store import Store
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.trust.operators import OPERATORS

BASE = datetime(2025, 10, 9, 1, 0, tzinfo=UTC)
CHUNK = 20_000


def rows(count: int, due: int, interval_s: float) -> Iterator[dict]:
    """``due`` obligations falling due over the first ticks, the rest spread over 60 days."""
    for i in range(count):
        if i < due:
            # Already warned, so each tick fires breaches only: the event whose delay we time.
            due_at = BASE + timedelta(seconds=interval_s * (i + 0.5) / due)
            warned = BASE - timedelta(hours=1)
        else:
            due_at = BASE + timedelta(days=1) + timedelta(seconds=(i * 5184) % (60 * 86400))
            warned = None
        # Started an hour before the run: the future ones warn at 80 % of the way, i.e. later.
        start = BASE - timedelta(hours=1)
        yield {
            "obligation_id": f"m{i:08d}:receipt",
            "message_id": f"m{i:08d}",
            "stage": "receipt",
            "debtor": "PSB@350582",
            "creditor": "MIB@350582",
            "family": "clue_transfer",
            "risk_level": None,
            "started_at": start,
            "warn_at": start + (due_at - start) * 0.8,
            "due_at": due_at,
            "escalate_at": due_at + timedelta(days=1),
            "warned_at": warned,
        }


def fill(url: str, count: int, due: int, interval_s: float) -> float:
    started = time.perf_counter()
    store = Store(url)
    engine = store.engine
    if engine.dialect.name == "postgresql":
        unset = {"breached_at", "escalated_at", "fulfilled_at"}
        cols = [c.name for c in obligations.columns if c.name not in unset]
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY obligations ({', '.join(cols)}) FROM STDIN") as copy:
                for r in rows(count, due, interval_s):
                    copy.write_row([r[c] for c in cols])
            raw.commit()
        finally:
            raw.close()
        with engine.begin() as conn:
            conn.execute(text("ANALYZE obligations"))
    else:
        batch: list[dict] = []
        with engine.begin() as conn:
            for r in rows(count, due, interval_s):
                batch.append(r)
                if len(batch) == CHUNK:
                    conn.execute(insert(obligations), batch)
                    batch = []
            if batch:
                conn.execute(insert(obligations), batch)
            conn.execute(text("ANALYZE"))
    store.close()
    return time.perf_counter() - started


def directory() -> Directory:
    d = Directory()
    for a in ("MIB@350582", "PSB@350582", "PSB@350500", str(OPERATORS)):
        d = d.with_key(Address.parse(a), SigningKey.generate())
    return d


def measure(url: str, args: argparse.Namespace) -> dict:
    due_total = args.due_per_tick * args.ticks
    interval = args.interval_s
    fill_s = fill(url, args.count, due_total, interval * args.ticks)
    store = Store(url)
    ledger = Ledger(store.engine)
    d = directory()
    clock = SlaClock(ledger, lambda: d, batch=args.batch)

    def one_tick(now: datetime) -> tuple[float, int, list[float]]:
        tracemalloc.start()
        t0 = time.perf_counter()
        recorded: list[float] = []
        clock.on_fired = lambda ev: recorded.append(
            (now - ev.due_at).total_seconds() + time.perf_counter() - t0
        )
        report = clock.tick(now)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(report.fired) == len(recorded)
        return elapsed, peak, recorded

    idle_s, idle_peak, _ = one_tick(BASE - timedelta(minutes=1))
    tick_s: list[float] = []
    peaks: list[int] = []
    delays: list[float] = []
    fired = 0
    if args.paced:
        # The hub's sla-clock job: after each tick, the next starts at the next deadline (at
        # most one interval, at least PACE_FLOOR_S later).  Simulated time moves by what each
        # tick and the look for the next deadline took, then by the wait.
        job = Job("sla-clock", lambda: asyncio.sleep(0), interval, paced=True)
        now = BASE - timedelta(seconds=interval)
        end = BASE + timedelta(seconds=interval * (args.ticks + 1))  # the last ones fired too
        while now <= end:
            elapsed, peak, recorded = one_tick(now)
            t0 = time.perf_counter()
            upcoming = ledger.next_instant()
            now += timedelta(seconds=elapsed + time.perf_counter() - t0)
            wait = None if upcoming is None else (upcoming - now).total_seconds()
            now += timedelta(seconds=wait_after(job, wait))
            if recorded:
                tick_s.append(elapsed)
                peaks.append(peak)
                delays += recorded
                fired += len(recorded)
    else:
        for k in range(1, args.ticks + 1):
            elapsed, peak, recorded = one_tick(BASE + timedelta(seconds=interval * k))
            tick_s.append(elapsed)
            peaks.append(peak)
            delays += recorded
            fired += len(recorded)
    store.close()
    delays.sort()
    return {
        "fill_s": fill_s,
        "idle_ms": idle_s * 1000,
        "idle_peak_kib": idle_peak / 1024,
        "tick_ms_median": statistics.median(tick_s) * 1000,
        "tick_ms_max": max(tick_s) * 1000,
        "tick_peak_kib": max(peaks) / 1024,
        "fired": fired,
        "ticks": len(tick_s),
        "delay_s_p50": delays[len(delays) // 2] if delays else float("nan"),
        "delay_s_p99": delays[int(len(delays) * 0.99)] if delays else float("nan"),
        "delay_s_max": delays[-1] if delays else float("nan"),
    }


def pg_database(server: str) -> str:
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS hub_bench WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE hub_bench"))
    admin.dispose()
    return f"{server}/hub_bench"


def drop_pg_database(server: str) -> None:
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS hub_bench WITH (FORCE)"))
    admin.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=1_000_000, help="open obligations (1,000,000)")
    p.add_argument("--due-per-tick", type=int, default=1000, help="breaches per tick (1000)")
    p.add_argument("--ticks", type=int, default=10)
    p.add_argument("--interval-s", type=float, default=1.0, help="simulated tick interval")
    p.add_argument("--batch", type=int, default=500, help="obligations read per query")
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    p.add_argument("--paced", action="store_true",
                   help="tick as `hub run` does: again at the next deadline when that is sooner "
                   "than the interval (else every interval, as without it)")  # fmt: skip
    args = p.parse_args()
    logging.getLogger("hub.sla").setLevel(logging.ERROR)  # one log line per event is not timed
    results: dict[str, dict] = {}
    if args.db in {"sqlite", "both"}:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = measure(f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    if args.db in {"postgresql", "both"}:
        try:
            results["postgresql"] = measure(pg_database(args.pg_url), args)
        finally:
            drop_pg_database(args.pg_url)
    print(
        f"\n{args.count:,} open obligations, {args.due_per_tick} due per tick, "
        f"over {args.ticks} intervals of {args.interval_s:g} s (simulated clock), "
        f"{'paced by the next deadline' if args.paced else 'one tick an interval'}\n"
    )
    names = list(results)
    lines = [
        ("fill the ledger (s)", "fill_s", "{:.1f}"),
        ("idle tick (ms)", "idle_ms", "{:.2f}"),
        ("idle tick peak Python memory (KiB)", "idle_peak_kib", "{:.0f}"),
        ("tick firing N breaches, median (ms)", "tick_ms_median", "{:.0f}"),
        ("tick firing N breaches, max (ms)", "tick_ms_max", "{:.0f}"),
        ("tick peak Python memory (KiB)", "tick_peak_kib", "{:.0f}"),
        ("breaches fired", "fired", "{:d}"),
        ("ticks that fired", "ticks", "{:d}"),
        ("deadline → breach recorded, p50 (s)", "delay_s_p50", "{:.3f}"),
        ("deadline → breach recorded, p99 (s)", "delay_s_p99", "{:.3f}"),
        ("deadline → breach recorded, max (s)", "delay_s_max", "{:.3f}"),
    ]
    width = max(len(label) for label, _, _ in lines)
    print(f"{'':<{width}}  " + "  ".join(f"{n:>12}" for n in names))
    for label, key, fmt in lines:
        cells = "  ".join(f"{fmt.format(results[n][key]):>12}" for n in names)
        print(f"{label:<{width}}  {cells}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess max RSS: {rss:.0f} MiB (includes filling the ledger)")


if __name__ == "__main__":
    main()
