"""Archiving a month of the audit log, verifying the archive and pruning it: time and peak memory
against a bare copy of the same rows, at growing sizes.

For each ``--sizes`` N it fills a fresh SQLite audit store with N records over three months
(the middle month holds 80 %), then runs, each in a process of its own so that its peak resident
memory is its own (``wait4``):

- ``bare copy``: the month's rows streamed from SQL into a JSON Lines file, nothing else;
- ``archive``: ``hub.audit.archive.write_archive`` (hashing, frontier, extracts, manifest);
- ``verify``: ``ops/audit/verify_export.py`` on the archive, as an outsider runs it;
- ``prune``: ``hub.audit.prune.prune`` (checks the archive against the live log, then deletes).

Flat memory across sizes is the point (X-Road's archiver ran out of memory).  Never run by the
tests: timings and memory are machine-dependent.

    .venv/bin/python -m bench.archive --sizes 100000 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MONTHS = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC),
          datetime(2026, 12, 1, tzinfo=UTC))  # fmt: skip
AGENCIES = ("MIB@350582", "PSB@350582", "PROC@350500", "CDI@350500", "FIN@350582", "SAMR@350582")


def fill(url: str, n: int) -> None:
    from hub.audit.events import AuditEvent
    from hub.audit.store import AuditStore

    store = AuditStore(url)
    shares = (n // 10, n - n // 5, n - n // 10 - (n - n // 5))
    seq = 0
    for month, count in zip(MONTHS, shares, strict=True):
        done = 0
        while done < count:
            batch = min(20_000, count - done)
            events = [
                AuditEvent(
                    f"submitted:{seq + i:010d}", "submitted",
                    month + timedelta(seconds=seq + i),
                    message_id=f"m{seq + i}", conversation_id=f"m{seq + i}",
                    family="clue_transfer", sender=AGENCIES[(seq + i) % 6],
                    recipient=AGENCIES[(seq + i + 1) % 6],
                )
                for i in range(batch)
            ]  # fmt: skip
            store.append(events, now=month + timedelta(days=1))
            seq, done = seq + batch, done + batch
    store.close()


def step(name: str, url: str, folder: Path) -> None:
    """One measured step, run in this (child) process."""
    from hub.audit.store import AuditStore
    from hub.trust.keys import SigningKey

    store = AuditStore(url, migrate_schema=False)
    key = SigningKey.load(folder.parent / "ops.pem")
    if name == "bare copy":
        first, last = _range(store)
        with (folder.parent / "bare.jsonl").open("w") as fh:
            for rec in store.records(after=first - 1, upto=last):
                fh.write(json.dumps(rec, default=str) + "\n")
    elif name == "archive":
        from hub.audit.archive import write_archive

        write_archive(store, folder, "2026-11", key)
    elif name == "prune october":  # not measured: months are pruned in order
        from hub.audit.archive import write_archive
        from hub.audit.prune import prune

        write_archive(store, folder.parent / "october", "2026-10", key)
        prune(store, folder.parent / "october", {key.key_id: key.public}.get)
    elif name == "prune":
        from hub.audit.prune import prune

        prune(store, folder, {key.key_id: key.public}.get)


def _range(store) -> tuple[int, int]:
    from hub.audit.archive import seq_range

    found = seq_range(store, "2026-11")
    assert found is not None
    return found


#: Runs a module (``-m name``) or a script and, at exit, prints its peak resident memory from
#: /proc (VmHWM belongs to the process image since exec; ru_maxrss would count the parent's
#: pages at fork too).
PEAK = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    line = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
    "    print('PEAK_KB', line.split()[1], file=sys.stderr)\n"
    "atexit.register(peak)\n"
    "target = sys.argv[1]; sys.argv = sys.argv[1:]\n"
    "if target == '-m':\n"
    "    sys.argv = sys.argv[1:]; runpy.run_module(sys.argv[0], run_name='__main__')\n"
    "else:\n"
    "    runpy.run_path(target, run_name='__main__')\n"
)


def measured(argv: list[str]) -> tuple[float, float]:
    """(seconds, peak resident MiB) of a child process running ``argv`` (after python)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *argv], cwd=ROOT, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed: {done.stderr[-2000:]}")
    kb = next(int(x.split()[1]) for x in done.stderr.splitlines() if x.startswith("PEAK_KB"))
    return time.perf_counter() - started, kb / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--step", nargs=3, metavar=("NAME", "URL", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        step(args.step[0], args.step[1], Path(args.step[2]))
        return
    from hub.trust.keys import SigningKey

    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
            url = f"sqlite:///{tmp}/audit.db"
            t0 = time.perf_counter()
            fill(url, n)
            print(f"{n:>10,} records filled in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            SigningKey.generate().save(Path(tmp) / "ops.pem")
            folder = Path(tmp) / "archive"
            me = ["-m", "bench.archive", "--step"]
            for name in ("bare copy", "archive", "prune"):
                if name == "prune":
                    measured([*me, "prune october", url, str(folder)])
                secs, mib = measured([*me, name, url, str(folder)])
                rows.append((n, name, secs, mib))
                if name == "archive":
                    verifier = str(ROOT / "ops" / "audit" / "verify_export.py")
                    secs, mib = measured([verifier, str(folder)])
                    rows.append((n, "verify", secs, mib))
    print(f"{'records':>12} {'step':<10} {'seconds':>9} {'peak MiB':>9} {'vs bare copy':>13}")
    bare = {n: s for n, name, s, _ in rows if name == "bare copy"}
    for n, name, secs, mib in rows:
        print(f"{n:>12,} {name:<10} {secs:>9.1f} {mib:>9.0f} {secs / bare[n]:>12.1f}x")


if __name__ == "__main__":
    main()
