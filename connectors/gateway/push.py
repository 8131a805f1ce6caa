"""Optional push: each inbox message POSTed to the agency's URL, signed as Standard Webhooks.

Headers ``webhook-id`` (the message id), ``webhook-timestamp`` and ``webhook-signature``
(``v1,<base64 HMAC-SHA256>`` of ``id.timestamp.body`` with the shared ``whsec_…`` secret,
made by the ``standardwebhooks`` library).  A 2xx answer acknowledges the message; anything
else is retried with exponential backoff (1 s, 2 s, 4 s … at most 5 min) and after
``max_attempts`` the message is *parked*: it stays in the inbox for ``GET /v1/inbox`` and
``/v1/inbox/parked``, and ``POST /v1/inbox/{id}/push`` tries again.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import httpx
from standardwebhooks.webhooks import Webhook

from connectors.gateway.store import GatewayStore

log = logging.getLogger("connectors.gateway.push")


def backoff(attempt: int) -> float:
    return float(min(2 ** max(attempt - 1, 0), 300))


class Pusher:
    def __init__(
        self,
        store: GatewayStore,
        url: str,
        secret: str,
        *,
        max_attempts: int = 8,
        timeout_s: float = 10.0,
        idle_s: float = 0.5,
        client: httpx.Client | None = None,
    ) -> None:
        self.store = store
        self.url = url
        self.webhook = Webhook(secret)
        self.max_attempts = max_attempts
        self.idle_s = idle_s
        self.client = client or httpx.Client(timeout=timeout_s)
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-push", daemon=True)

    def start(self) -> Pusher:
        self._thread.start()
        return self

    def push_due(self) -> int:
        """Push every message that is due once; returns how many were taken."""
        taken = 0
        for item in self.store.due_for_push():
            body = json.dumps(item.body, ensure_ascii=False)
            at = datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "webhook-id": item.message_id,
                "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": self.webhook.sign(item.message_id, at, body),
            }
            try:
                response = self.client.post(self.url, content=body.encode(), headers=headers)
                error = None if response.is_success else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            if error is None:
                self.store.ack(item.message_id)
                taken += 1
                continue
            attempt = item.push_attempts + 1
            if attempt >= self.max_attempts:
                self.store.push_failed(item.seq, error, None)
                log.error(
                    "push of %s parked after %d attempts (%s)", item.message_id, attempt, error
                )
            else:
                retry = datetime.now(UTC) + timedelta(seconds=backoff(attempt))
                self.store.push_failed(item.seq, error, retry.isoformat(timespec="milliseconds"))
                log.warning(
                    "push of %s failed (%s); attempt %d of %d",
                    item.message_id,
                    error,
                    attempt,
                    self.max_attempts,
                )
        return taken

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.push_due()
            except Exception:
                log.exception("push round failed")
            self.stop.wait(self.idle_s)

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self._thread.join(timeout)
        self.client.close()
