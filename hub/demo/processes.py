"""Starting and stopping the ``hub`` processes the demo runs (the hub, a gateway)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


def spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``hub ARGS`` in the background, its output appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def interrupt(proc: subprocess.Popen[bytes] | None, timeout_s: float = 30.0) -> None:
    """Ctrl-C (the process finishes what it has in hand), then kill after ``timeout_s``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
