"""The hub's notion of "now", injectable so that tests need not wait for real deadlines.

``HUB_CLOCK_OFFSET_S`` shifts the clock by a fixed amount.  ``HUB_CLOCK_FILE`` names a file
holding a number of seconds that is *added* to it, re-read on every call: a test (or an operator
rehearsing an escalation) writes a larger number to jump the running hub forward in time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.config import Settings

Clock = Callable[[], datetime]


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


def clock_from_settings(settings: Settings) -> Clock:
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
