"""`hub demo` as an officer meets it: one Ctrl-C in the middle of the week stops it cleanly with
nothing left running; `--keep-running` serves the console beside the hub, prints a supervisor's
sign-in, and the console lives in the demo's week (one clock per home): "overdue only" lists the
clue 晋江's police never signed for, with its breach."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyotp

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
    wait_for(out, r"\[ *20/\d+\]", proc)
    os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: to the whole group
    assert proc.wait(90) == 130
    text = out.read_text()
    assert "Ctrl-C: stopping the demo" in text
    assert not re.search(r"\[ *1[01]\d/\d+\]", text)  # the week stopped where it was
    assert "Traceback" not in text
    assert left_running(tmp_path / "demo") == []


def test_keep_running_serves_the_console_in_the_demo_s_week(tmp_path: Path) -> None:
    proc, out = demo(tmp_path / "demo", "--keep-running")
    try:
        text = wait_for(out, r"one-time codes: add the secret ([A-Z2-7]+)", proc, timeout=180)
        url = re.search(r"the officers' console: (http://\S+)", text)
        who = re.search(r"sign in as (\S+), password (\S+)", text)
        secret = re.search(r"add the secret ([A-Z2-7]+)", text)
        assert url and who and secret
        script = json.loads((tmp_path / "demo" / "demo" / "script.json").read_text())
        breached = next(s["ref"] for s in script["steps"] if s["action"] == "expect"
                        and s["args"].get("kind") == "BREACH"
                        and s["args"].get("stage") == "receipt")  # fmt: skip
        with httpx.Client(base_url=url.group(1), follow_redirects=True) as officer:
            form = officer.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]*)"', form.text)
            assert csrf is not None
            signed_in = officer.post("/login", data={
                "csrf": csrf.group(1), "name": who.group(1), "password": who.group(2),
                "code": pyotp.TOTP(secret.group(1)).now(),
            })  # fmt: skip
            assert signed_in.status_code == 200 and "退出" in signed_in.text, signed_in.text
            overdue = officer.get("/", params={"overdue": "1"})
            # On the wall clock nothing would be overdue: the demo's week lies ahead of it.
            assert f"/handoffs/{breached}" in overdue.text
            page = officer.get(f"/handoffs/{breached}")
            assert page.status_code == 200 and "sla_breach" in page.text
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(90) == 0
        assert left_running(tmp_path / "demo") == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
