"""Faust's aiokafka transport with a configurable fetch wait, registered as ``hubkafka://``.

Faust hard-codes ``fetch_max_wait_ms=1500`` for worker consumers.  Brokers that answer a waiting
fetch only at that bound (Tansu does) then add ~340 ms per hop; the hub's ``fetch_max_wait_ms``
setting replaces it.  Registered through the ``faust.transports`` entry point (pyproject.toml).
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as driver

DEFAULT_FETCH_MAX_WAIT_MS = 100


class ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # AIOKafkaConsumer keeps the constructor argument here and hands it to its Fetcher in
        # start(), which runs after this method returns.
        consumer._fetch_max_wait_ms = int(
            getattr(self.app, "hub_fetch_max_wait_ms", DEFAULT_FETCH_MAX_WAIT_MS)
        )
        return consumer


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    Consumer = Consumer
