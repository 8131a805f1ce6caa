"""Start-up never hangs silently, and a stuck job never holds up routing.

Each start-up step says what it waits for, says again while it waits, and fails with an error
naming it past its timeout.  A periodic job that does not finish is reported (log and
``hub_job_stuck``) while everything else, routing included, goes on.  End to end: a broker that
accepts connections but never answers makes ``hub run`` fail with the step it was stuck in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hub.runtime import metrics
from hub.runtime.jobs import Job, keep_running
from hub.runtime.startup import StartupStuck, async_step, step, until

ROOT = Path(__file__).resolve().parents[2]


def test_a_step_that_never_finishes_is_named_while_it_waits_and_fails_past_its_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    forever = threading.Event()
    caplog.set_level(logging.INFO, "hub.run")
    with pytest.raises(StartupStuck, match="the store at db did not finish within 1 s") as err:
        step("the store at db", forever.wait, 0.6, every_s=0.2)
    assert err.value.exit_code == 3
    text = caplog.text
    assert "waiting for the store at db" in text
    assert "still waiting for the store at db" in text


def test_a_step_that_finishes_returns_its_value_and_one_that_fails_raises_its_error() -> None:
    assert step("a quick step", lambda: 42, 5) == 42

    def broken() -> None:
        raise ValueError("no such directory")

    with pytest.raises(ValueError, match="no such directory"):
        step("a broken step", broken, 5)


def test_an_async_step_and_a_condition_that_never_hold_fail_with_their_names() -> None:
    async def never() -> None:
        await asyncio.Event().wait()

    with pytest.raises(StartupStuck, match="the jobs' producer"):
        asyncio.run(async_step("the jobs' producer", never(), 0.3, every_s=0.1))
    with pytest.raises(StartupStuck, match="the router to join consumer group g"):
        asyncio.run(until("the router to join consumer group g", lambda: False, 0.3))


def test_a_stuck_job_is_reported_while_routing_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "hub.run")
    routed = 0
    release = asyncio.Event()

    async def stuck_tick() -> None:
        await release.wait()

    async def route() -> None:
        nonlocal routed
        while True:
            routed += 1
            await asyncio.sleep(0.01)

    async def scenario() -> tuple[int, float, float]:
        job = asyncio.create_task(keep_running(Job("sla-clock", stuck_tick, 10, stuck_after_s=0.1)))
        router = asyncio.create_task(route())
        await asyncio.sleep(0.5)
        during = metrics.JOB_STUCK.labels("sla-clock")._value.get()
        release.set()
        await asyncio.sleep(0.05)
        after = metrics.JOB_STUCK.labels("sla-clock")._value.get()
        for t in (job, router):
            t.cancel()
        await asyncio.gather(job, router, return_exceptions=True)
        return routed, during, after

    count, during, after = asyncio.run(scenario())
    assert count > 20  # the router kept going the whole time
    assert (during, after) == (1.0, 0.0)
    assert "job sla-clock has run for" in caplog.text and "not done (stuck?)" in caplog.text
    assert "job sla-clock finished after" in caplog.text


def test_a_paced_job_runs_again_at_its_next_deadline_never_later_than_its_period() -> None:
    from hub.runtime.jobs import PACE_FLOOR_S, wait_after

    paced = Job("sla-clock", lambda: asyncio.sleep(0), 1.0, paced=True)
    assert wait_after(paced, 0.3) == 0.3
    assert wait_after(paced, 7.0) == 1.0  # a far deadline: the period as before
    assert wait_after(paced, None) == 1.0  # nothing waiting, or the run failed
    assert wait_after(paced, -2.0) == PACE_FLOOR_S  # overdue yet not fired: no spinning
    assert wait_after(Job("tree-heads", paced.run, 1.0), 0.3) == 1.0  # not paced
    starts: list[float] = []

    async def tick() -> float:
        starts.append(time.monotonic())
        return 0.1

    async def scenario() -> None:
        task = asyncio.create_task(keep_running(Job("sla-clock", tick, 10.0, paced=True)))
        await asyncio.sleep(0.45)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert len(starts) >= 3  # every 0.1 s, not every 10 s


def test_a_failing_job_is_logged_and_run_again() -> None:
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        raise ConnectionError("broker hiccup")

    async def scenario() -> None:
        task = asyncio.create_task(keep_running(Job("tree-heads", flaky, 0.01)))
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert runs > 3


def test_a_store_out_of_reach_is_one_line_a_minute_and_a_bug_keeps_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy.exc import OperationalError

    async def cut_off() -> None:
        raise OperationalError("SELECT", {}, Exception("connection is bad: Network is unreachable"))

    async def buggy() -> None:
        raise ValueError("a bug")

    async def scenario() -> None:
        tasks = [asyncio.create_task(keep_running(Job(name, run, 0.01)))
                 for name, run in (("prune", cut_off), ("audit-keys", buggy))]  # fmt: skip
        await asyncio.sleep(0.3)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    with caplog.at_level(logging.INFO, "hub.run"):
        asyncio.run(scenario())
    outage = [r for r in caplog.records if "job prune failed" in r.getMessage()]
    assert len(outage) == 1 and outage[0].exc_info is None
    assert "the store does not answer (connection is bad" in outage[0].getMessage()
    bugs = [r for r in caplog.records if "job audit-keys failed" in r.getMessage()]
    assert len(bugs) > 3 and all(r.exc_info for r in bugs)


def test_hub_run_against_a_broker_that_never_answers_fails_naming_the_step(
    tmp_path: Path,
) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections, never says a word
    port = silent.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(tmp_path / "hub"), HUB_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}",
               HUB_STARTUP_TIMEOUT_S="3", HUB_DEV_DIRECTORY="always")  # fmt: skip
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "hub.cli", "run"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        silent.close()
    assert done.returncode == 3, done.stderr[-2000:]
    assert f"waiting for the hub's topics on 127.0.0.1:{port}" in done.stderr
    assert "start-up stuck: the hub's topics on" in done.stderr
    assert time.monotonic() - started < 50
