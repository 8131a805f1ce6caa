"""The signed directory on the ``hub.directory`` topic: published by the operators, followed by
every router, connector and gateway.

``publish`` puts the bytes of a signed directory version on the compacted topic under one key,
so the topic ends up holding the latest version.  :class:`DirectoryFollower` reads the topic from
its start in a thread and offers each version to a :class:`~hub.trust.directory_file.DirectoryFile`,
which takes it only when it verifies against the reader's own trust anchor and is newer than the
version in hand: whoever can write to the topic can delay a version, never forge or roll one
back.  A registration or rotation reaches a running reader in about a second (one poll).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from hub.core.restarting import start_restarting
from hub.trust.directory_file import DirectoryFile
from hub.wire.topics import DIRECTORY, DIRECTORY_KEY, DIRECTORY_MAX_BYTES

log = logging.getLogger("hub.trust.directory")


def publish(
    bootstrap: str, document: bytes, security: dict[str, Any], timeout_s: float = 30
) -> int:
    """Put one signed directory version on the topic; returns its offset once acknowledged."""
    from kafka import KafkaProducer

    # gzip: a national directory is 15 MB of JSON and 2 MB compressed (bench/national.py).
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=5,
                             client_id="hub-directory-publish", compression_type="gzip",
                             max_request_size=DIRECTORY_MAX_BYTES, **security)  # fmt: skip
    try:
        meta = producer.send(DIRECTORY.name, key=DIRECTORY_KEY, value=document).get(timeout_s)
        return int(meta.offset)
    finally:
        producer.close()


class DirectoryFollower:
    def __init__(
        self, directory: DirectoryFile, bootstrap: str, security: dict[str, Any] | None = None
    ) -> None:
        self.directory, self.bootstrap, self.security = directory, bootstrap, security or {}
        self.taken = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                 client_id="hub-directory-follower", fetch_max_wait_ms=500,
                                 max_partition_fetch_bytes=DIRECTORY_MAX_BYTES,
                                 fetch_max_bytes=DIRECTORY_MAX_BYTES, **self.security)  # fmt: skip
        try:
            while not self._stop.is_set() and not consumer.partitions_for_topic(DIRECTORY.name):
                self._stop.wait(5.0)  # no topic yet: the hub creates it when it starts
            part = TopicPartition(DIRECTORY.name, 0)
            consumer.assign([part])
            consumer.seek_to_beginning(part)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=1000).values():
                    for r in records:
                        if self.directory.offer(r.value or b"", f"{r.topic}@{r.offset}"):
                            self.taken += 1
        finally:
            consumer.close()

    def start(self) -> DirectoryFollower:
        # The broker away: read the topic from the start again later.
        self._thread = start_restarting("directory-follower", self._read, self._stop, log,
                                        retry_s=5.0)  # fmt: skip
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
