"""Beside the audit sink: gathers the agencies' cosignatures of published tree heads from
``hub.audit.cosignatures`` into the hub's store (``tree_head_cosignatures``).

Each record is checked (``hub.audit.cosignatures.check_record``) against the head the hub
published at that size and against the cosigner's key in the directory; one that fails is
counted by reason and logged without its contents, and read past: a cosignature is evidence an
agency offers, not a hand-off, so there is nothing to deliver or replay.  At-least-once: offsets
are committed after the batch is kept, and a cosignature kept twice is one row.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import Counter

from consumers.group_consumer import group_consumer
from hub.audit.cosignatures import CosignatureError, check_record
from hub.core.config import Settings
from hub.core.restarting import start_restarting
from hub.storage.cosignatures import CosignatureRows
from hub.storage.engine import make_engine
from hub.storage.tree_heads import TreeHeads
from hub.trust.directory_file import DirectoryFile, directory_file
from hub.wire.topics import COSIGNATURES, cosignature_group

log = logging.getLogger("hub.audit.cosignatures")

COSIGNATURES_SEEN = Counter(
    "hub_audit_cosignatures_total",
    "Cosignatures of tree heads received from connectors, by verdict (kept or why refused)",
    ["verdict"],
)


class CosignatureCollector:
    def __init__(
        self, settings: Settings, bootstrap: str, directory: DirectoryFile | None = None
    ) -> None:
        self.settings, self.bootstrap = settings, bootstrap
        engine = make_engine(settings.effective_store_url)
        self.heads, self.rows = TreeHeads(engine), CosignatureRows(engine)
        self.directory = directory or directory_file(settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _checkpoint_of(self, size: int) -> tuple[str, str] | None:
        head = self.heads.at(size)
        return None if head is None else (head.root_hash, str(head.payload["checkpoint"]))

    def take(self, values: list[bytes]) -> int:
        """Check and keep a batch of records; returns how many were new."""
        kept = 0
        for value in values:
            try:
                c = check_record(value, self._checkpoint_of, self.directory.current)
            except CosignatureError as exc:
                COSIGNATURES_SEEN.labels(exc.reason).inc()
                log.warning("cosignature refused (%s)", exc.reason)
                continue
            new = self.rows.record(c.tree_size, c.key_id, c.cosigner, c.root_hash,
                                   c.timestamp, c.line)  # fmt: skip
            COSIGNATURES_SEEN.labels("kept" if new else "repeat").inc()
            if new:
                kept += 1
                log.info("tree head %d cosigned by %s", c.tree_size, c.cosigner)
        return kept

    def _consumer(self) -> Any:
        return group_consumer(self.settings, self.bootstrap, topic=COSIGNATURES.name,
                              group=cosignature_group(self.settings.app_id),
                              client_id="hub-cosignatures", instance="audit-sink")  # fmt: skip

    def run(self) -> None:
        consumer = self._consumer()
        try:
            while not self._stop.is_set():
                polled = consumer.poll(timeout_ms=500, max_records=500)
                values = [r.value or b"" for records in polled.values() for r in records]
                if values:
                    self.take(values)
                    consumer.commit()
        finally:
            consumer.close(autocommit=False)

    def start(self) -> CosignatureCollector:
        self._thread = start_restarting("cosignatures", self.run, self._stop, log, retry_s=2.0)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
