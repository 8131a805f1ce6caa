"""What the transparency log costs as it grows: 10⁵, 10⁶ and 10⁷ records in one SQLite store.

At each size it prints the time to integrate the new full tiles, `hub audit prove` of one
message (its trail, the root and an inclusion proof, from tiles: ``hub.audit.transparency``),
a consistency proof from half the size, the same proof the old way (every leaf read, up to
10⁶), and the store's bytes per record.  The records are written by SQL (a chain of hashes, no
Kafka): what is measured is the log, not the router.

    .venv/bin/python bench/tlog_scale.py --sizes 100000 1000000 10000000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from hub.audit.schema import audit_log  # noqa: E402
from hub.audit.store import AuditStore  # noqa: E402
from hub.audit.tiles import TileLog  # noqa: E402
from hub.audit.transparency import consistency, leaves, prove  # noqa: E402
from hub.core import merkle  # noqa: E402

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def fill(store: AuditStore, lo: int, hi: int, batch: int = 50_000) -> None:
    for start in range(lo, hi, batch):
        rows = [
            {"seq": i + 1, "event_id": f"e{i}", "kind": "routed", "occurred_at": T0,
             "recorded_at": T0, "facts": "{}", "prev_hash": "", "message_id":
             f"m{i}" if i % 1000 == 500 else None, "hash": merkle.sha256(b"%d" % i).hex()}
            for i in range(start, min(hi, start + batch))
        ]  # fmt: skip
        with store.engine.begin() as conn:
            conn.execute(insert(audit_log), rows)


def best(fn, times: int = 5) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(times):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dir", help="where the store goes (default: a temporary folder)")
    args = ap.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="tlog-scale-"))
    db = folder / "audit.db"
    store = AuditStore(f"sqlite:///{db}")
    print(f"{'records':>10} {'fill s':>7} {'integrate s':>11} {'prove ms':>9} "
          f"{'consistency ms':>14} {'every-leaf ms':>13} {'bytes/record':>12}")  # fmt: skip
    done = 0
    for size in sorted(args.sizes):
        t = time.perf_counter()
        fill(store, done, size)
        filled = time.perf_counter() - t
        t = time.perf_counter()
        TileLog(store).integrate(size)
        integrated = time.perf_counter() - t
        done = size
        mid = f"m{(size // 2) // 1000 * 1000 + 500}"
        proof_ms = best(lambda: prove(store, mid, key=None))  # noqa: B023
        cons_ms = best(lambda: consistency(store, size // 2 + 7))  # noqa: B023
        if size <= 1_000_000:

            def every_leaf() -> None:
                tree = merkle.StreamedTree(size, store.suite.digest)  # noqa: B023
                tree.want_consistency(size // 2 + 7)  # noqa: B023
                tree.feed(leaves(store, size))  # noqa: B023

            old = f"{best(every_leaf, 1):13.0f}"
        else:
            old = f"{'(skipped)':>13}"
        per = (db.stat().st_size + sum(p.stat().st_size for p in folder.glob("audit.db-*"))) / size
        print(f"{size:>10} {filled:7.1f} {integrated:11.1f} {proof_ms:9.1f} {cons_ms:14.1f} "
              f"{old} {per:12.0f}", flush=True)  # fmt: skip
    print(f"(store in {folder})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
