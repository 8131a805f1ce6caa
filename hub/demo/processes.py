"""Starting and stopping the ``hub`` processes the demo runs (the hub, a gateway)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from hub.runtime.broker import die_with_parent


def spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``hub ARGS`` in the background, its output appended to ``log_path``.

    Out of the terminal's process group, so that Ctrl-C reaches the demo alone, which stops the
    departments first and then these (a hub stopped first left the departments' clients
    retrying against a broker that was gone); yet never outliving the demo, however it ends."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(os.getpid()),
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
