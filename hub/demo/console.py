"""The officers' console beside a demo hub that keeps running: a ready-made supervisor of 泉州
(350500) and ``hub console`` on the demo's home, which follows the demo hub's clock (the home's
``clock.json``), so the console lives in the demo's week."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pyotp

from hub.runtime.broker import free_port

OFFICER = "demo-supervisor"
SCOPE = "350500"


@dataclass
class DemoConsole:
    url: str
    officer: str
    password: str
    totp_secret: str
    process: subprocess.Popen[bytes]

    def sign_in_lines(self) -> list[str]:
        return [
            f"the officers' console: {self.url}",
            f"  sign in as {self.officer}, password {self.password}",
            f"  one-time codes: add the secret {self.totp_secret} to any authenticator app "
            f"(the code now: {pyotp.TOTP(self.totp_secret).now()})",
        ]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_console(env: dict[str, str], home: Path, port: int = 0) -> DemoConsole:
    """Make the demo's supervisor and start ``hub console`` on the demo's home."""
    password = secrets.token_urlsafe(12)
    made = subprocess.run(
        [sys.executable, "-m", "hub.cli", "console", "officer", "add", OFFICER, "--scope",
         SCOPE, "--role", "supervisor", "--password-env", "DEMO_OFFICER_PASSWORD"],
        env={**env, "DEMO_OFFICER_PASSWORD": password}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if made.returncode != 0:
        raise RuntimeError(f"could not make the demo's officer: {made.stderr.strip()}")
    secret = next(
        line.split(":", 1)[1].strip()
        for line in made.stdout.splitlines()
        if "one-time-code secret:" in line
    )
    port = port or free_port("127.0.0.1")
    log = (home / "console.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "console", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)  # fmt: skip
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/login", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the console did not start: see console.log") from None
            time.sleep(0.2)
    return DemoConsole(url, OFFICER, password, secret, proc)
