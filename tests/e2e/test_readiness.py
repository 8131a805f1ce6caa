"""`/readyz` turns ready only after the router joined its group; `hub status` says so."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from hub.runtime.broker import free_port
from hub.runtime.state import read_state
from tests.hubproc import ROOT, HubProcess, interrupt


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_readyz_turns_ready_only_after_the_router_joined(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("readiness")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(home), HUB_DEV_DIRECTORY="always", HUB_TREE_HEAD_INTERVAL_S="3600")
    log_path = home / "hub-run.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "run"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    hub = HubProcess(home, proc, log_path, {})
    try:
        seen: list[int] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and 200 not in seen:
            state = read_state(home / "state.json")
            if state is not None:
                try:
                    status, _ = get(f"{state.web_url}/readyz")
                    seen.append(status)
                except OSError:
                    pass  # the web server is not up yet
            time.sleep(0.1)
        assert 200 in seen, hub.log()[-2000:]
        assert seen[0] == 503, seen[:5]  # answered before the router joined, not ready
        assert get(f"{state.web_url}/healthz")[0] == 200
        log_text = hub.log()
        assert log_text.index("reading hub.ingress/") < log_text.index("ready: routing with")
        status_text = hub.cli("status", check=False).stdout
        assert "router: ready (6 ingress partitions" in status_text
    finally:
        hub.stop()


def test_a_worker_serves_readyz_ready_only_once_it_joined_and_the_board(hub: HubProcess) -> None:
    port = free_port()
    log_path = hub.home / "hub-worker-readiness.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker", "--metrics-port", str(port)],
            env=hub.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        seen: list[int] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and 200 not in seen:
            with contextlib.suppress(OSError):  # not listening yet
                seen.append(get(f"{url}/readyz")[0])
            time.sleep(0.1)
        assert 200 in seen, log_path.read_text(errors="replace")[-2000:]
        assert seen[0] == 503, seen[:5]  # it listens before it has joined the group
        assert get(f"{url}/healthz") == (200, {"alive": True})
        with urllib.request.urlopen(f"{url}/metrics", timeout=3) as response:
            assert "hub_router_ready 1.0" in response.read().decode()
        status, board = get(f"{url}/board.json")  # the same board as the hub's web port
        assert status == 200 and {"pairs", "overdue", "dead_letters", "audit"} <= set(board)
    finally:
        interrupt(proc)
