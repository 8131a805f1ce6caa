"""Two router workers share hub.ingress; when one stops, the other takes its partitions back.

A hub of its own (embedded broker, SQLite store shared by both processes) and a `hub worker`:
every message is delivered exactly once whichever worker routed it, both workers routed some,
and after the worker stops the hub alone routes what comes next.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

from hub.storage.store import Store
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
