"""Running `hub gateway` processes beside a test hub, and talking to them with plain curl."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from hub.runtime.broker import free_port
from tests.hubproc import ROOT, HubProcess


@dataclass
class GatewayProcess:
    address: str
    port: int
    proc: subprocess.Popen
    token: str
    log_path: Any

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def curl(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        timeout: float = 60,
    ) -> tuple[int, Any]:
        """What an agency's script would do: curl, a bearer token, JSON in and out."""
        cmd = [
            "curl",
            "-sS",
            "-X",
            method,
            "-H",
            f"Authorization: Bearer {self.token}",
            "-w",
            "\n%{http_code}",
            f"{self.url}{path}",
        ]
        if key:
            cmd[4:4] = ["-H", f"Idempotency-Key: {key}"]
        if body is not None:
            cmd[4:4] = ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
        text, _, status = out.stdout.rpartition("\n")
        return int(status), json.loads(text) if text.strip() else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def spawn_cli(hub: HubProcess, log_name: str, *args: str) -> tuple[subprocess.Popen, Any]:
    """``hub ARGS`` as a process beside ``hub``, with its settings, logging to the hub's home."""
    log_path = hub.home / f"{log_name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *args],
            env=hub.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return proc, log_path


def start_gateway(
    hub: HubProcess, address: str, *extra: str, port: int | None = None, timeout: float = 60
) -> GatewayProcess:
    port = port or free_port("127.0.0.1")
    proc, log_path = spawn_cli(
        hub, f"gateway-{address}", "gateway", "--as", address, "--port", str(port), *extra
    )
    token_file = hub.home / "gateway" / f"{address}.token"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"hub gateway exited:\n{log_path.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"hub gateway not up:\n{log_path.read_text()[-3000:]}")
        up = subprocess.run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                f"http://127.0.0.1:{port}/openapi.json",
            ],
            capture_output=True,
            text=True,
        )
        if up.stdout == "200" and token_file.exists():
            break
        time.sleep(0.3)
    token = token_file.read_text().strip()
    return GatewayProcess(address, port, proc, token, log_path)
