"""The console's search on a big 台账: each filter's first page, with the indexes and without.

Fills a fresh store (SQLite by default, or ``--url postgresql+psycopg://…``) with ``--rows``
hand-offs spread over a year, 36 regions and every family and state, and one open obligation for
a tenth of them; then times ``hub.console.search.search`` (page 1, 50 rows) for each filter, as a
national officer and as a city officer, the median of ``--repeat`` runs.  Then it drops the
console's indexes and times the same queries again: the two columns side by side are what the
indexes buy.  Never run by the tests: timings are machine-dependent.

    .venv/bin/python -m bench.console_search --rows 1000000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from hub.console.search import Filters, search
from hub.lifecycle.tables import ledger, obligations
from hub.storage.store import Store

FAMILIES = ("clue_transfer", "case_referral", "invoice_verification_request",
            "corruption_clue_handoff")  # fmt: skip
STATES = ("DELIVERED", "RECEIVED", "ACCEPTED", "IN_PROGRESS", "CLOSED", "RETURNED")
AGENCIES = ("MIB", "PSB", "PROC", "HEALTH", "SAMR", "FIN", "CDI")
REGIONS = [f"35{c:02d}{d:02d}" for c in (1, 3, 5) for d in (0, 2, 3, 4, 5, 21, 24, 25, 26, 27, 81,
                                                          82)]  # fmt: skip
INDEXES = ("ix_ledger_family", "ix_ledger_state", "ix_ledger_reference", "ix_ledger_case_number",
           "ix_ledger_delivered")  # fmt: skip


def fill(store: Store, rows: int, start: datetime, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    ids: list[str] = []
    batch: list[dict[str, object]] = []
    owed: list[dict[str, object]] = []
    began = time.perf_counter()

    def flush() -> None:
        with store.engine.begin() as conn:
            conn.execute(insert(ledger), batch)
            if owed:
                conn.execute(insert(obligations), owed)
        batch.clear()
        owed.clear()

    for n in range(rows):
        mid = f"m{n:09d}"
        sender_region, recipient_region = rnd.choice(REGIONS), rnd.choice(REGIONS)
        at = start + timedelta(seconds=rnd.randrange(365 * 86400))
        to = f"{rnd.choice(AGENCIES)}@{recipient_region}"
        batch.append({
            "message_id": mid, "family": rnd.choice(FAMILIES),
            "sender": f"{rnd.choice(AGENCIES)}@{sender_region}", "recipient": to,
            "routed_to": to, "state": rnd.choice(STATES), "delivered_at": at,
            "sender_region": sender_region, "recipient_region": recipient_region,
            "reference": f"QZ-{n:08d}", "case_number": f"C-{n:08d}" if n % 3 == 0 else None,
        })  # fmt: skip
        if n % 10 == 0:
            due = at + timedelta(days=3)
            owed.append({
                "obligation_id": f"{mid}:receipt", "message_id": mid, "stage": "receipt",
                "debtor": to, "creditor": "MIB@350500", "family": "clue_transfer",
                "started_at": at, "warn_at": due - timedelta(hours=8), "due_at": due,
                "escalate_at": due + timedelta(days=1),
            })  # fmt: skip
        ids.append(mid)
        if len(batch) >= 20_000:
            flush()
            print(f"  {n + 1:,} rows ({time.perf_counter() - began:.0f} s)", flush=True)
    if batch:
        flush()
    return ids


def cases(ids: list[str], start: datetime) -> dict[str, Filters]:
    week = (start + timedelta(days=180)).date()
    return {
        "message id": Filters(message_id=ids[len(ids) // 2]),
        "clue number": Filters(reference=f"QZ-{len(ids) // 3:08d}"),
        "agency PSB": Filters(agency="PSB"),
        "region 350582": Filters(region="350582"),
        "family": Filters(family="case_referral"),
        "state CLOSED": Filters(state="CLOSED"),
        "one week": Filters(since=week.isoformat(), until=(week + timedelta(days=6)).isoformat()),
        "overdue only": Filters(overdue=True),
        "region+state+week": Filters(
            region="350582",
            state="CLOSED",
            since=week.isoformat(),
            until=(week + timedelta(days=6)).isoformat(),
        ),
    }


def timed(store: Store, f: Filters, scope: str, now: datetime, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        search(store.engine, f, scope=scope, now=now)
        runs.append(time.perf_counter() - began)
    return statistics.median(runs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--url", help="a store URL (default: a fresh SQLite file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        store = Store(args.url or f"sqlite:///{Path(tmp) / 'store.db'}")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        print(f"filling {args.rows:,} hand-offs …", flush=True)
        ids = fill(store, args.rows, start)
        # What autovacuum does to a live store within a minute of such a load: without the
        # statistics PostgreSQL's planner sorted a city officer's matches (0.1-0.16 s) and hash-
        # joined every open obligation for "overdue only" (0.6-0.7 s), measured 2026-12-04.
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        now = start + timedelta(days=365)
        queries = cases(ids, start)
        results: dict[tuple[str, str], list[float]] = {}
        for label in ("indexed", "no index"):
            if label == "no index":
                with store.engine.begin() as conn:
                    for name in INDEXES:
                        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
            for name, f in queries.items():
                for scope in ("100000", "350500"):
                    results.setdefault((name, scope), []).append(
                        timed(store, f, scope, now, args.repeat)
                    )
        print()
        print(f"{'filter (page 1)':<20} {'scope':>7} {'indexed ms':>11} {'no index ms':>12} "
              f"{'ratio':>7}")  # fmt: skip
        for (name, scope), (with_ix, without) in results.items():
            print(f"{name:<20} {scope:>7} {with_ix:>11.1f} {without:>12.1f} "
                  f"{without / with_ix:>7.1f}")  # fmt: skip
        print(f"\n{args.rows:,} hand-offs, {store.engine.dialect.name}")


if __name__ == "__main__":
    main()
