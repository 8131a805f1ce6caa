"""Time, in one place: the hub's injectable "now", Beijing time, and the UTC forms it stores.

Every instant the hub stores or compares is an aware UTC ``datetime``; the database and Avro
hand back naive or zoned values, and :func:`as_utc` is the one place that normalises them.
Deadlines, reports and tables speak Beijing time (:data:`BEIJING`, no daylight saving).

``HUB_CLOCK_OFFSET_S`` shifts the clock by a fixed amount.  ``HUB_CLOCK_FILE`` names a file
holding a number of seconds that is *added* to it, re-read on every call: a test (or an operator
rehearsing an escalation) writes a larger number to jump the running hub forward in time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import overload
from zoneinfo import ZoneInfo

from hub.core.config import Settings
from hub.core.errors import ConfigError

Clock = Callable[[], datetime]

#: Deadlines are agreed, and reports dated, in Beijing time whatever zone the host runs in.
BEIJING = ZoneInfo("Asia/Shanghai")


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC; a naive value (SQLite drops zones) is taken to be UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def truncate_ms(value: datetime) -> datetime:
    """Millisecond precision, as Avro ``timestamp-millis`` keeps it."""
    value = as_utc(value)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def now_utc() -> datetime:
    """Now, to the millisecond, so that a signed value round-trips through Avro unchanged."""
    return truncate_ms(datetime.now(UTC))


def iso_ms(value: datetime) -> str:
    """UTC, millisecond precision, 'Z': the one text form of an instant the audit log hashes."""
    value = as_utc(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """An ISO-8601 instant (``Z`` accepted) as aware UTC."""
    return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def parse_when(text_value: str) -> datetime:
    """A date (YYYY-MM-DD, taken as midnight Beijing time) or an ISO-8601 instant, as UTC."""
    text_value = text_value.strip()
    if len(text_value) == 10:
        d = datetime.fromisoformat(text_value)
        return d.replace(tzinfo=BEIJING).astimezone(UTC)
    return parse_iso(text_value)


def beijing_time(value: datetime | str | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in Beijing time, for tables; empty for nothing."""
    if not value:
        return ""
    instant = parse_iso(value) if isinstance(value, str) else as_utc(value)
    return instant.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class OffsetClock:
    offset_s: float = 0.0
    file: Path | None = None

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_s + self._file_offset())

    def _file_offset(self) -> float:
        if self.file is None:
            return 0.0
        try:
            text = self.file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return 0.0
        return float(text) if text else 0.0


#: Where `hub run` records a clock other than the wall clock (an offset, a clock file), so that
#: every command on its home — the console, `hub status`, the reports — reads the hub's time,
#: not the wall clock's (docs/configuration.md, "One clock per home").
HOME_CLOCK = "clock.json"
_CLOCK_KEYS = ("clock_offset_s", "clock_file", "allow_clock_file")


def record_home_clock(settings: Settings) -> None:
    """At `hub run`'s start: write its clock to the home, or remove a stale one."""
    from hub.core.files import write_atomic

    path = settings.home / HOME_CLOCK
    if not settings.clock_offset_s and not settings.clock_file:
        path.unlink(missing_ok=True)
        return
    clock_file = str(Path(settings.clock_file).resolve()) if settings.clock_file else ""
    record = {"clock_offset_s": settings.clock_offset_s, "clock_file": clock_file,
              "allow_clock_file": settings.allow_clock_file}  # fmt: skip
    write_atomic(path, (json.dumps(record) + "\n").encode())


def home_clock(settings: Settings) -> Settings:
    """``settings`` with its home's recorded clock, unless they name a clock of their own."""
    if settings.clock_offset_s or settings.clock_file:
        return settings
    try:
        recorded = json.loads((settings.home / HOME_CLOCK).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return settings
    if not isinstance(recorded, dict):
        return settings
    return replace(settings, **{k: recorded[k] for k in _CLOCK_KEYS if k in recorded})


def clock_from_settings(settings: Settings) -> Clock:
    settings = home_clock(settings)
    if settings.clock_file and not settings.allow_clock_file:
        raise ConfigError(
            "clock_file moves the hub's clock (and fires deadlines); it is a test setting: "
            "set allow_clock_file = true (HUB_ALLOW_CLOCK_FILE=true) to use it"
        )
    return OffsetClock(
        settings.clock_offset_s, Path(settings.clock_file) if settings.clock_file else None
    )


def advance_clock_file(path: Path, seconds: float) -> float:
    """Add ``seconds`` to the offset in ``path`` (write-then-rename); returns the new offset."""
    try:
        current = float(path.read_text(encoding="utf-8").strip() or 0)
    except FileNotFoundError:
        current = 0.0
    new = current + seconds
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{new}\n", encoding="utf-8")
    tmp.replace(path)
    return new
