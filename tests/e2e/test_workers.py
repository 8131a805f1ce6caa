"""Two router workers share hub.ingress; when one stops, the other takes its partitions back.

A hub of its own (embedded broker, SQLite store shared by both processes) and a `hub worker`:
every message is delivered exactly once whichever worker routed it, both workers routed some,
and after the worker stops the hub alone routes what comes next.  Both run the jobs: tree heads
move to the worker when `hub run` stalls and back when the worker is killed, and SLA breaches
whose deadlines passed meanwhile fire once.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from sqlalchemy import select

from hub.core.clock import advance_clock_file
from hub.lifecycle.tables import sla_events
from hub.storage.leases import JobLeases
from hub.storage.store import Store
from hub.storage.tree_heads import tree_heads
from tests.e2e.test_end_to_end import payload
from tests.hubproc import start_hub, start_worker, wait_for_messages, wait_until


def partitions_read(log: str) -> set[int]:
    """The ingress partitions a worker was last given, from its "reading …" log line."""
    lines = re.findall(r"reading (hub\.ingress/.*)", log)
    return {int(p) for p in re.findall(r"hub\.ingress/(\d+)", lines[-1])} if lines else set()


def test_two_workers_share_the_ingress_and_each_message_is_delivered_once(tmp_path: Path) -> None:
    hub = start_hub(tmp_path / "hub")
    worker = None
    try:
        worker = start_worker(hub)
        worker_log = hub.home / "hub-worker.log"
        wait_until(
            lambda: partitions_read(hub.log()) and partitions_read(worker_log.read_text()),
            timeout=60,
            what="both workers to hold ingress partitions",
        )
        mine, theirs = partitions_read(hub.log()), partitions_read(worker_log.read_text())
        assert mine and theirs and not mine & theirs

        mib = hub.connector("MIB@350582")
        psb = hub.connector("PSB@350582", signing=False)
        # Each clue is its own conversation, so the keys spread over all partitions.
        first = [
            mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
            for _ in range(40)
        ]
        wait_for_messages(psb, first, timeout=60)

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        wait_until(
            lambda: len(partitions_read(hub.log())) == 6,
            timeout=60,
            what="the hub to take every partition back",
        )
        second = [
            mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
            for _ in range(20)
        ]
        wait_for_messages(psb, second, timeout=60)

        # A recipient can read its inbox record before the router's transaction records the
        # delivery (the write is acknowledged first, then recorded), and a batch the stopped
        # worker had written but not recorded is routed again by the hub: so wait for the rows.
        store = Store(hub.settings.effective_store_url, create=False)
        wait_until(
            lambda: set(store.deliveries_by_id(first + second)) == set(first + second),
            timeout=60,
            what="every delivery to be recorded",
        )
        rows = store.deliveries_by_id(first + second)
        assert len(rows) == len(first + second)  # each once: message id is the key
        routed_by_worker = worker_log.read_text().count("batch from hub.ingress/")
        routed_by_hub = hub.log().count("batch from hub.ingress/")
        assert routed_by_worker > 0 and routed_by_hub > 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()  # the test failed before stopping it: leave no process behind
            worker.wait()
        hub.stop()


def heads_by_fence(store: Store) -> list[tuple[int, int]]:
    """(fence, tree size) of every recorded head, in tree-size order."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(tree_heads.c.fence, tree_heads.c.tree_size)
                            .order_by(tree_heads.c.tree_size))  # fmt: skip
        return [(int(f), int(n)) for f, n in rows]


def holder(store: Store, job: str) -> tuple[str, int]:
    found = [(x.owner, x.fence) for x in JobLeases(store.engine).all() if x.job == job]
    return found[0] if found else ("", 0)


def test_jobs_move_to_the_worker_when_the_hub_stalls_and_back_when_the_worker_is_killed(
    tmp_path: Path,
) -> None:
    home = tmp_path / "hub"
    clock = home / "clock-offset"
    hub = start_hub(home, extra_env={
        "HUB_JOB_LEASE_S": "3", "HUB_TREE_HEAD_INTERVAL_S": "1",
        "HUB_CLOCK_FILE": str(clock), "HUB_ALLOW_CLOCK_FILE": "true",
    })  # fmt: skip
    worker = None
    stopped = False
    try:
        worker = start_worker(hub)
        store = Store(hub.settings.effective_store_url, create=False)
        mib = hub.connector("MIB@350582")
        psb = hub.connector("PSB@350582", signing=False)
        sent: list[str] = []

        def send_and_wait(count: int) -> None:
            ids = [mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
                   for _ in range(count)]  # fmt: skip
            sent.extend(ids)
            wait_for_messages(psb, ids, timeout=90)

        def head_under(fence: int) -> bool:
            return any(f == fence for f, _ in heads_by_fence(store))

        send_and_wait(5)
        wait_until(lambda: holder(store, "tree-heads")[0].startswith("run@") and head_under(1),
                   timeout=60, what="hub run to hold tree-heads and sign a head")  # fmt: skip
        status = hub.cli("status").stdout
        assert re.search(r"tree-heads\s+run@\S+ pid \d+, fence 1", status), status

        # hub run stalls (a paused VM): the worker takes the job over once the lease runs out.
        os.kill(hub.process.pid, signal.SIGSTOP)
        stopped, paused = True, time.monotonic()
        wait_until(lambda: holder(store, "tree-heads")[0].startswith("worker-1@"), timeout=30,
                   what="the worker to take the tree-heads lease")  # fmt: skip
        print(f"tree-heads taken over {time.monotonic() - paused:.1f} s after hub run stalled")
        send_and_wait(5)
        wait_until(lambda: head_under(2), timeout=60, what="the worker to sign a head")
        os.kill(hub.process.pid, signal.SIGCONT)
        stopped = False
        wait_until(lambda: "tree-heads: lease lost" in hub.log(), timeout=30,
                   what="hub run to see it lost the lease")  # fmt: skip

        # The worker is killed outright: hub run takes the job back within a lease period.
        worker.kill()
        worker.wait()
        killed = time.monotonic()

        def back_with_hub_run() -> bool:
            owner, fence = holder(store, "tree-heads")
            return owner.startswith("run@") and fence == 3

        wait_until(back_with_hub_run, timeout=30, what="hub run to take the tree-heads lease back")
        print(f"tree-heads taken back {time.monotonic() - killed:.1f} s after the kill")
        send_and_wait(5)
        wait_until(lambda: head_under(3), timeout=60, what="hub run to sign a head again")

        # Heads grow with the fence: none was signed by a holder that had lost the lease.
        heads = heads_by_fence(store)
        assert [f for f, _ in heads] == sorted(f for f, _ in heads), heads
        assert {1, 2, 3} <= {f for f, _ in heads}

        # Every receipt deadline passes now: each clue breaches once, fired by the survivor.
        advance_clock_file(clock, 30 * 86400)

        def breaches() -> list[str]:
            with store.engine.connect() as conn:
                rows = conn.execute(select(sla_events.c.message_id).where(
                    sla_events.c.kind == "BREACH", sla_events.c.stage == "receipt",
                    sla_events.c.published_at.is_not(None)))  # fmt: skip
                return [r[0] for r in rows]

        wait_until(lambda: set(breaches()) >= set(sent), timeout=60,
                   what="a published receipt breach for every clue")  # fmt: skip
        assert sorted(breaches()) == sorted(sent)
    finally:
        if stopped:
            os.kill(hub.process.pid, signal.SIGCONT)
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        hub.stop()
