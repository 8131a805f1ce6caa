"""Freshness: an envelope is accepted only within a window around the moment it reached the hub.

An envelope created longer ago than ``max_age`` is ``stale`` (an old, validly signed message
replayed), one created more than ``max_ahead`` after it is ``from_future`` (a clock far off, or
a message pre-dated to outlive the window).  The de-duplication memory keeps every delivered id
for longer than the window, so a replay inside the window is a repeat and one outside it is stale:
either way it is never delivered twice.  Pure: the instant to judge against is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.wire.deadletter import Reason


@dataclass(frozen=True)
class Freshness:
    max_age: timedelta = timedelta(hours=24)
    max_ahead: timedelta = timedelta(minutes=5)

    def problem(self, created_at: datetime, at: datetime) -> tuple[Reason, str] | None:
        if created_at < at - self.max_age:
            return (
                Reason.STALE,
                f"created {_span(at - created_at)} before it reached the hub; "
                f"the limit is {_span(self.max_age)}",
            )
        if created_at > at + self.max_ahead:
            return (
                Reason.FROM_FUTURE,
                f"created {_span(created_at - at)} after it reached the hub; "
                f"the limit is {_span(self.max_ahead)}",
            )
        return None


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} h"
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"
