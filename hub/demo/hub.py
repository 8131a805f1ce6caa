"""The demo's hub: a real ``hub run`` on the embedded defaults, its clock set to the scripted week.

The hub's clock is ``now + the number in <home>/clock-offset`` (``HUB_CLOCK_FILE``, a setting
the demo is allowed); :meth:`DemoHub.move_to` rewrites that number so the hub's "now" is a
moment of the week.  Deadlines, SLA events, the ledger and the audit log follow the hub's
clock; envelopes keep real creation times, which freshness judges against the broker's.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from hub.core.config import Settings, load_settings
from hub.demo.processes import interrupt, spawn
from hub.runtime.state import read_state


class DemoHub:
    def __init__(self, home: Path, *, web_port: int = 0, suite: str = "intl") -> None:
        self.home = home
        self.suite = suite
        self.clock_file = home / "clock-offset"
        self.web_port = web_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "hub-run.log"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            {
                "HUB_HOME": str(self.home),
                "HUB_DEV_DIRECTORY": "always",
                "HUB_CLOCK_FILE": str(self.clock_file),
                "HUB_ALLOW_CLOCK_FILE": "true",
                "HUB_SLA_TICK_S": "0.25",
                "HUB_WEB_PORT": str(self.web_port),
                "HUB_BOARD_REFRESH_S": "5",
                # A head every few seconds, not every five minutes: the departments check each
                # and cosign it, so the week's pages show who vouched for the log.
                "HUB_TREE_HEAD_INTERVAL_S": "5",
                "HUB_CRYPTO_SUITE": self.suite,
            }
        )
        return env

    def settings(self) -> Settings:
        """What the hub runs with, for the demo's own connectors and readers."""
        return load_settings(
            home=self.home,
            dev_directory="always",
            clock_file=str(self.clock_file),
            allow_clock_file=True,
            crypto_suite=self.suite,
        )

    def move_to(self, when: datetime) -> None:
        """Set the hub's clock to ``when`` (write-then-rename: the hub never reads half)."""
        offset = (when - datetime.now(UTC)).total_seconds()
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(f"{offset}\n", encoding="utf-8")
        tmp.replace(self.clock_file)

    def start(self, timeout_s: float = 90.0) -> str:
        """Start ``hub run``; returns its web URL once ``/readyz`` says ready."""
        self.proc = spawn(["run"], self.env, self.log_path)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"hub run exited with {self.proc.returncode}:\n{tail}")
            state = read_state(self.home / "state.json")
            if state is not None and _ready(state.web_url):
                return state.web_url
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"the hub was not ready after {timeout_s:.0f} s (see {self.log_path})")

    def bootstrap(self) -> str:
        state = read_state(self.home / "state.json")
        if state is None:
            raise RuntimeError("the demo hub is not running")
        return state.bootstrap

    def stop(self, timeout_s: float = 30.0) -> None:
        interrupt(self.proc, timeout_s)


def _ready(web_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{web_url}/readyz", timeout=2) as resp:
            return bool(json.loads(resp.read())["ready"])
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return False
