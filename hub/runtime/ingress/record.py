"""One record read from ``hub.ingress``, as the pipeline sees it: bytes, headers and position."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.wire import headers

MAX_HEADER = 128
DEAD_LETTER_ID = re.compile(r"dl-[0-9a-f]{20}")


@dataclass(frozen=True)
class IngressRecord:
    topic: str
    partition: int
    offset: int
    value: bytes
    #: The broker's record timestamp, milliseconds since the epoch (0 when unknown).
    timestamp_ms: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def source(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"

    def header(self, name: str) -> str | None:
        """A header's value as text: undecodable bytes replaced, never raising, bounded."""
        for key, value in self.headers:
            if key == name:
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                return text[:MAX_HEADER]
        return None

    @property
    def replay_of(self) -> str | None:
        """The dead letter this record replays, if the header names one in the right shape.

        Headers are not signed; a malformed one is ignored (and logged by the pipeline), never
        trusted and never allowed to fail the record.
        """
        value = self.header(headers.REPLAY_OF)
        return value if value is not None and DEAD_LETTER_ID.fullmatch(value) else None

    @property
    def odd_replay_header(self) -> bool:
        return self.header(headers.REPLAY_OF) is not None and self.replay_of is None

    @property
    def timestamp(self) -> datetime | None:
        if self.timestamp_ms <= 0:
            return None
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @classmethod
    def from_consumer_record(cls, r: Any) -> IngressRecord:
        """From an aiokafka ``ConsumerRecord`` (its timestamp is in milliseconds)."""
        return cls(
            topic=r.topic,
            partition=r.partition,
            offset=r.offset,
            value=r.value or b"",
            timestamp_ms=int(r.timestamp or 0),
            headers=tuple(r.headers or ()),
        )
