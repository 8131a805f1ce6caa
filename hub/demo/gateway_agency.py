"""A department whose system speaks only HTTP: it takes part through its own ``hub gateway``.

In the demo the health commission (卫健委) works this way, as most agency systems would: its
"system" is this class, long-polling ``GET /v1/inbox`` and answering with ``POST
/v1/messages/{id}/{action}`` (each with an Idempotency-Key); the gateway holds its keys, signs,
and reads its inbox on the broker.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from hub.demo.processes import interrupt, spawn
from hub.runtime.broker import free_port


class GatewayAgency:
    def __init__(self, address: str, home: Path, env: dict[str, str]) -> None:
        self.address = address
        self.port = free_port("127.0.0.1")
        self.base = f"http://127.0.0.1:{self.port}"
        self.token_file = home / "gateway" / f"{address}.token"
        self.log_path = home / f"gateway-{address}.log"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: httpx.Client | None = None
        self.inbox: dict[str, dict[str, Any]] = {}

    def start(self, timeout_s: float = 60.0) -> GatewayAgency:
        args = ["gateway", "--as", self.address, "--port", str(self.port)]
        self.proc = spawn(args, self.env, self.log_path)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub gateway exited (see {self.log_path})")
            if self.token_file.exists() and self._up():
                token = self.token_file.read_text(encoding="utf-8").strip()
                self.client = httpx.Client(
                    base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=40
                )
                return self
            time.sleep(0.3)
        raise TimeoutError(f"the gateway of {self.address} did not start (see {self.log_path})")

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.base}/openapi.json", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _http(self) -> httpx.Client:
        if self.client is None:
            raise RuntimeError(f"the gateway of {self.address} is not started")
        return self.client

    def wait_for(self, message_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Long-poll the inbox until ``message_id`` is in it."""
        deadline = time.monotonic() + timeout_s
        while message_id not in self.inbox:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{message_id} did not reach {self.address}'s gateway")
            got = self._http().get("/v1/inbox", params={"wait": 5})
            got.raise_for_status()
            for msg in got.json():
                self.inbox[msg["id"]] = msg
        return self.inbox[message_id]

    def answer(self, action: str, message_id: str, args: dict[str, Any]) -> str:
        """签收, 受理, 反馈 or 办结 through the gateway; returns the answer's message id."""
        self.wait_for(message_id)
        body = {k: v for k, v in args.items() if v is not None}
        done = self._http().post(
            f"/v1/messages/{message_id}/{action}",
            json=body,
            headers={"Idempotency-Key": f"{action}-{message_id}"},
        )
        done.raise_for_status()
        if action == "close":  # the system has all it needs: the gateway may forget it
            self._http().post(f"/v1/inbox/{message_id}/ack").raise_for_status()
        return str(done.json()["id"])

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        interrupt(self.proc, 20.0)
