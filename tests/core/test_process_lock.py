"""Whether a hub (or a worker, sink, gateway, relay) runs is decided by a lock the kernel drops
when its holder dies, never by a PID: a killed holder not yet reaped, and a live unrelated process
that got the recorded PID, both leave the way free."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.core.process_lock import AlreadyRunning, ProcessLock, is_held
from hub.runtime.state import hub_lock, read_state

HOLD = """
import sys, time
from pathlib import Path
from hub.core.process_lock import ProcessLock
ProcessLock(Path(sys.argv[1]), "a test holder").acquire()
print("held", flush=True)
time.sleep(600)
"""


def hold_in_child(path: Path) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_lock_held_by_a_live_process_refuses_a_second_holder_and_names_the_first(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.lock"
    child = hold_in_child(path)
    try:
        assert is_held(path)
        with pytest.raises(AlreadyRunning, match=f"pid {child.pid}"):
            ProcessLock(path, "a hub").acquire()
    finally:
        child.kill()
        child.wait()


def test_a_holder_killed_outright_and_not_yet_reaped_leaves_the_lock_free_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.lock"
    child = hold_in_child(path)
    os.kill(child.pid, signal.SIGKILL)
    # Not reaped: the child is a zombie, and os.kill(pid, 0) would still call it alive.
    deadline = time.monotonic() + 5
    while is_held(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert not is_held(path)
        with ProcessLock(path, "a hub"):
            assert is_held(path)
        assert not is_held(path)
    finally:
        child.wait()


def test_a_state_file_naming_a_live_unrelated_pid_is_not_a_running_hub(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps({"pid": os.getppid(), "bootstrap": "127.0.0.1:1", "embedded": True,
                    "web_url": "", "started_at": "2026-01-01T00:00:00+00:00"})
    )  # fmt: skip
    assert read_state(state) is None  # the PID is alive, but it holds no lock
    with hub_lock(state):  # so a hub may start here
        assert read_state(state) is not None and read_state(state).pid == os.getppid()


def test_a_holder_that_is_stopping_is_waited_for_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "sink.lock"
    child = hold_in_child(path)
    try:
        with pytest.raises(AlreadyRunning):
            ProcessLock(path, "a sink").acquire(wait_s=0.3)
        subprocess.Popen(["sh", "-c", f"sleep 0.5; kill {child.pid}"])
        with ProcessLock(path, "a sink").acquire(wait_s=10):
            pass
    finally:
        child.kill()
        child.wait()
