"""`hub demo` stopped by one Ctrl-C in the middle of the week: everything stops cleanly, nothing
is left running.  (The console `--keep-running` serves beside the hub: tests/e2e/test_demo.py.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def demo(folder: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    out = folder.parent / f"{folder.name}.out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "demo", "--dir", str(folder), *extra],
        env=env, cwd=ROOT, stdout=out.open("w"), stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: Ctrl-C as a terminal sends it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    return proc, out


def wait_for(out: Path, pattern: str, proc: subprocess.Popen[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = out.read_text(errors="replace")
        if re.search(pattern, text):
            return text
        assert proc.poll() is None, text[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} not in:\n{out.read_text()[-3000:]}")


def left_running(folder: Path) -> list[int]:
    """Processes of this demo still alive: those whose HUB_HOME is its folder (the hub, its
    gateways, the console; the broker dies with its hub)."""
    mark = f"HUB_HOME={folder}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_one_ctrl_c_in_the_middle_of_the_week_stops_everything(tmp_path: Path) -> None:
    proc, out = demo(tmp_path / "demo")
    wait_for(out, r"\[ *3/\d+\]", proc)
    os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: to the whole group
    assert proc.wait(90) == 130
    text = out.read_text()
    assert "Ctrl-C: stopping the demo" in text
    assert not re.search(r"\[ *1[01]\d/\d+\]", text)  # the week stopped where it was
    assert "Traceback" not in text
    assert left_running(tmp_path / "demo") == []
