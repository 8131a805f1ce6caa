"""One record read from ``hub.ingress``, as the pipeline sees it: bytes, headers and position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.wire import headers


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
        for key, value in self.headers:
            if key == name:
                return value.decode() if isinstance(value, bytes) else value
        return None

    @property
    def replay_of(self) -> str | None:
        return self.header(headers.REPLAY_OF)

    @classmethod
    def from_message(cls, message: Any) -> IngressRecord:
        """From a Faust ``Message`` (its timestamp is in seconds)."""
        return cls(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            value=message.value or b"",
            timestamp_ms=int((message.timestamp or 0) * 1000),
            headers=tuple(message.headers or ()),
        )
