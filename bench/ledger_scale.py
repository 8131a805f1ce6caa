"""The hub over a big store: router rate, `hub status`, start and restart time, bytes per hand-off.

For each ``--sizes`` (default 10⁵ and 10⁶ hand-offs; 10⁷ takes ~15 min to fill on SQLite), a
fresh hub home gets a store filled the way ``bench.console_search`` fills it — ledger rows spread
over a year, 36 regions, every family and state, one open obligation for a tenth of them (so
10⁷ hand-offs carry 10⁶ open obligations) — and a delivery row per hand-off.  The deadlines lie
ahead, so the SLA clock has nothing to fire and the rate is the router's.  Then:

  start:    `hub run` on that home, launch to "hub ready";
  status:   `hub status` (the board), wall time of the command;
  rate:     ``--messages`` signed clues produced to hub.ingress, timed on the recipient's inbox;
  restart:  `hub run` killed with SIGKILL and started again, launch to "hub ready";
  bytes:    the store's files (SQLite database and its WAL) per hand-off.

The router rate of the empty store is the first line, for comparison; nothing may degrade
faster than log n.  Never run by the tests: timings are machine-dependent.

    .venv/bin/python -m bench.ledger_scale --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bench.console_search import fill as fill_ledger
from bench.loads import clue_sealer
from bench.throughput import RECIPIENT, Watcher, send_all
from hub.storage.store import Store
from hub.wire.topics import inbox_topic
from tests.hubproc import HubProcess, start_hub


def fill(home: Path, rows: int) -> float:
    """The store of ``home`` with ``rows`` hand-offs; returns the seconds it took."""
    began = time.perf_counter()
    store = Store(f"sqlite:///{home / 'hub.db'}")
    if rows:
        fill_ledger(store, rows, datetime.now(UTC))
        with store.engine.begin() as conn:  # a delivery row per hand-off, as the router writes
            conn.execute(text(
                "INSERT INTO deliveries (message_id, conversation_id, family, sender, recipient,"
                " routed_to, fallback, created_at, routed_at) SELECT message_id, message_id,"
                " family, sender, recipient, routed_to, 0, delivered_at, delivered_at FROM ledger"
            ))  # fmt: skip
    store.close()
    return time.perf_counter() - began


def store_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.glob("hub.db*"))


def timed_start(home: Path) -> tuple[HubProcess, float]:
    began = time.perf_counter()
    hub = start_hub(home, timeout=600)
    return hub, time.perf_counter() - began


async def router_rate(hub: HubProcess, n: int, timeout: float) -> float:
    seal = clue_sealer(hub)
    inbox = Watcher(hub.state.bootstrap, inbox_topic(*RECIPIENT.split("@")))
    watching = asyncio.create_task(inbox.run())
    try:
        warm = [(e.message_id.encode(), raw) for e, raw in seal(24)]
        inbox.expect({k for k, _ in warm})
        await send_all(hub.state.bootstrap, warm)
        await inbox.wait(timeout)
        batch = [(e.message_id.encode(), raw) for e, raw in seal(n)]
        inbox.expect({k for k, _ in batch})
        await send_all(hub.state.bootstrap, batch)
        await inbox.wait(timeout)
        return inbox.rate([k for k, _ in batch])[0]
    finally:
        watching.cancel()


def measure(rows: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if args.keep is not None:  # a hub home kept from an earlier run of this size
            home = args.keep / str(rows)
            home.mkdir(parents=True, exist_ok=True)
        filled = (home / "hub.db").exists()
        print(f"{rows:,} hand-offs: {'reusing' if filled else 'filling'} the store …", flush=True)
        fill_s = 0.0 if filled else fill(home, rows)
        size = store_bytes(home)
        print(f"  filled in {fill_s:.0f} s; starting the hub …", flush=True)
        hub, start_s = timed_start(home)
        try:
            began = time.perf_counter()
            hub.cli("status", timeout=600)
            status_s = time.perf_counter() - began
            rate = asyncio.run(router_rate(hub, args.messages, args.timeout))
            hub.process.send_signal(signal.SIGKILL)
            hub.process.wait(30)  # its embedded broker and audit sink die with it
            hub, restart_s = timed_start(home)
        finally:
            hub.stop()
    return {"rows": rows, "fill_s": fill_s, "bytes": size, "start_s": start_s,
            "status_s": status_s, "rate": rate, "restart_s": restart_s}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000],
                    help="hand-offs in the store, a hub each (100000 1000000)")  # fmt: skip
    ap.add_argument("--messages", type=int, default=3000, help="clues routed per size (3000)")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="keep each size's hub home under DIR and reuse it in later runs "
                    "(10⁷ takes minutes to fill; each run routes --messages more)")  # fmt: skip
    args = ap.parse_args()
    results = [measure(n, args) for n in [0, *args.sizes]]
    print(f"\n{'hand-offs':>11}{'fill s':>8}{'bytes/hand-off':>16}{'start s':>9}{'restart s':>11}"
          f"{'status s':>10}{'router msg/s':>14}")  # fmt: skip
    for r in results:
        per = r["bytes"] / r["rows"] if r["rows"] else float("nan")
        print(f"{r['rows']:>11,}{r['fill_s']:>8.0f}{per:>16.0f}{r['start_s']:>9.1f}"
              f"{r['restart_s']:>11.1f}{r['status_s']:>10.2f}{r['rate']:>14.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
