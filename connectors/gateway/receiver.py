"""The gateway's inbox reader: the connector's consumer group, into the gateway's store."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from connectors.gateway.service import Gateway

if TYPE_CHECKING:
    from hub.runtime.membership import GroupMembership

log = logging.getLogger("gateway")


class Receiver:
    """Reads the connector's inbox as its consumer group into the gateway's store, in a thread."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        auto_receipt: bool = False,
        membership: GroupMembership | None = None,
    ) -> None:
        self.gateway = gateway
        self.auto_receipt = auto_receipt
        self.membership = membership
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-receiver", daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.gateway.connector.consume(
                    self.gateway.on_message,
                    follow=True,
                    stop=self.stop,
                    auto_receipt=self.auto_receipt,
                    membership=self.membership,
                )
            except Exception:
                log.exception("the inbox reader stopped; starting it again")
                self.stop.wait(2.0)

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self._thread.join(timeout)
