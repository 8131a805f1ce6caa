"""Chinese working-day arithmetic for SLA deadlines, driven by the State Council holiday notices.

Agencies count deadlines in 工作日, which is not "Monday to Friday": each year's notice
(国务院办公厅关于…部分节假日安排的通知) turns some weekdays into holidays and some weekend days
into make-up working days (调休上班).  The packaged ``data/calendar/cn-YYYY.yaml`` files record
those notices; for any year without a file we fall back to plain Monday–Friday, and
:meth:`WorkCalendar.covers` tells callers when that fallback is in effect.

Everything here is pure: no clock, no broker, no I/O beyond reading the calendar files.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

from hub.core.clock import BEIJING
from hub.core.errors import ConfigError
from hub.core.paths import CALENDAR_DIR

#: Deadlines are agreed in Beijing time whatever zone the hub's host runs in.

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_FILE_KEYS = frozenset({"year", "source", "holidays", "workdays"})
_ENTRY_KEYS = frozenset({"date", "name"})


class CalendarError(ConfigError):
    """A holiday calendar (file or object) is inconsistent."""


def local_date(value: date) -> date:
    """The Asia/Shanghai calendar date of ``value``.

    A ``datetime`` is a ``date`` subclass, but it never compares equal to one, so a datetime
    looked up in a set of dates silently misses; converting here prevents that.  Naive
    datetimes are refused because their zone is a guess.
    """
    if isinstance(value, datetime):
        require_aware(value, "value")
        return value.astimezone(BEIJING).date()
    return value


def end_of_local_day(day: date) -> datetime:
    """24:00 Beijing time of ``day`` (= 00:00 of the next day), as an aware UTC datetime."""
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=BEIJING)
    return midnight.astimezone(UTC)


def require_aware(value: datetime, what: str) -> None:
    """Refuse naive datetimes: deadlines between agencies must never depend on a host's zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")


@dataclass(frozen=True)
class WorkCalendar:
    """Holidays and make-up working days for the ``years`` that have an official notice."""

    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        # Objects built by hand bypass the file checks, so the invariants that make
        # is_workday unambiguous are enforced here as well.
        both = sorted(self.holidays & self.makeup_workdays)
        if both:
            raise CalendarError(f"{both[0].isoformat()} is both a holiday and a make-up workday")
        for d in sorted(self.holidays | self.makeup_workdays):
            if d.year not in self.years:
                raise CalendarError(f"{d.isoformat()} lies outside the covered years")

    def covers(self, d: date) -> bool:
        """Whether ``d`` falls in a year with an official notice (else Mon–Fri is assumed)."""
        return local_date(d).year in self.years

    def is_workday(self, d: date) -> bool:
        """Whether ``d`` (a date, or an aware datetime taken in Beijing time) is a working day."""
        d = local_date(d)
        if d in self.makeup_workdays:
            return True
        if d in self.holidays:
            return False
        return d.weekday() < 5

    def add_workdays(self, start: datetime, n: int) -> datetime:
        """The deadline ``n`` working days after the instant ``start``.

        Rule: take the Beijing-time (Asia/Shanghai) date of ``start``; the start day itself
        never counts, whatever the hour, because a message received at 17:59 cannot be
        expected to be handled that day.  Count forward to the ``n``-th working day after it;
        the deadline is the end of that day, 24:00 Beijing time, returned as the equal aware
        UTC instant (00:00 +08:00 of the following day = 16:00 UTC of that day).

        Example: 1 working day from Tue 2025-09-30 10:00 +08:00 skips the 2025 National Day
        holiday (10-01..10-08) and is due at the end of Thu 2025-10-09.
        """
        require_aware(start, "start")
        if n < 1:
            raise ValueError(f"n must be a positive number of working days, got {n}")
        return end_of_local_day(_nth_workday_after(self, local_date(start), n))

    def workdays_between(self, a: date, b: date) -> int:
        """Working days in the half-open range (a, b]; negative when ``b`` precedes ``a``.

        Half-open so that it inverts :meth:`add_workdays`: for the due date ``d`` of
        ``add_workdays(start, n)``, ``workdays_between(start, d) == n``.  Datetimes are taken
        at their Beijing-time date.
        """
        a, b = local_date(a), local_date(b)
        if b < a:
            return -self.workdays_between(b, a)
        return sum(1 for i in range(1, (b - a).days + 1) if self.is_workday(a + timedelta(days=i)))


@functools.lru_cache(maxsize=4096)
def _nth_workday_after(calendar: WorkCalendar, day: date, n: int) -> date:
    """Cached: a batch of messages received on one day asks the same question thousands of
    times (the calendar is frozen, so the answer never changes)."""
    remaining = n
    while remaining:
        day += timedelta(days=1)
        if calendar.is_workday(day):
            remaining -= 1
    return day


# -- loading ----------------------------------------------------------------------------------


def load_calendar(source: str | Path | Iterable[str | Path]) -> WorkCalendar:
    """Load calendar files: one path, a directory of ``*.yaml`` files, or several paths.

    Each file is validated on its own (see ``_parse_file``), then the years are merged;
    two files for the same year are refused rather than silently combined.
    """
    paths = _calendar_paths(source)
    if not paths:
        raise CalendarError(f"{source}: no calendar files found")
    holidays: set[date] = set()
    workdays: set[date] = set()
    year_files: dict[int, Path] = {}
    for path in paths:
        year, file_holidays, file_workdays = _parse_file(path)
        if year in year_files:
            raise CalendarError(f"{path}: year {year} is already defined by {year_files[year]}")
        year_files[year] = path
        holidays |= file_holidays
        workdays |= file_workdays
    return WorkCalendar(frozenset(holidays), frozenset(workdays), frozenset(year_files))


@functools.cache
def default_calendar() -> WorkCalendar:
    """The calendar built from the holiday notices packaged with the hub (loaded once)."""
    return load_calendar(CALENDAR_DIR)


def _calendar_paths(source: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(source, str | Path):
        path = Path(source)
        return sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return [Path(p) for p in source]


def _parse_file(path: Path) -> tuple[int, frozenset[date], frozenset[date]]:
    """Read one ``cn-YYYY.yaml``; raise :class:`CalendarError` naming the file and date."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        # ValueError: PyYAML builds unquoted timestamps eagerly, so 2025-13-01 fails here.
        raise CalendarError(f"{path}: cannot read calendar: {exc}") from exc
    if not isinstance(data, Mapping):
        raise CalendarError(f"{path}: expected a mapping with year/source/holidays/workdays")
    unknown = sorted(str(k) for k in set(data) - _FILE_KEYS)
    if unknown:
        raise CalendarError(f"{path}: unknown key(s) {', '.join(unknown)}")
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        raise CalendarError(f"{path}: 'year' must be an integer, got {year!r}")
    holidays = _parse_entries(path, year, "holidays", data.get("holidays"))
    workdays = _parse_entries(path, year, "workdays", data.get("workdays"))
    both = sorted(holidays & workdays)
    if both:
        raise CalendarError(
            f"{path}: {both[0].isoformat()} is listed both as a holiday and as a make-up workday"
        )
    for d in sorted(workdays):
        if d.weekday() < 5:
            # A make-up day on a weekday would be a no-op at best and a typo at worst.
            raise CalendarError(
                f"{path}: make-up workday {d.isoformat()} is a {_WEEKDAY_NAMES[d.weekday()]}, "
                "already a working day; only Saturdays and Sundays can be made up"
            )
    return year, holidays, workdays


def _parse_entries(path: Path, year: int, key: str, raw: Any) -> frozenset[date]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise CalendarError(f"{path}: '{key}' must be a list of {{date, name}} entries")
    seen: set[date] = set()
    for i, entry in enumerate(raw):
        where = f"{path}: {key}[{i}]"
        if not isinstance(entry, Mapping) or "date" not in entry:
            raise CalendarError(f"{where}: expected a mapping with a 'date', got {entry!r}")
        extra = sorted(str(k) for k in set(entry) - _ENTRY_KEYS)
        if extra:
            raise CalendarError(f"{where}: unknown key(s) {', '.join(extra)}")
        d = _parse_date(where, entry["date"])
        if d.year != year:
            raise CalendarError(f"{where}: {d.isoformat()} is outside the file's year {year}")
        if d in seen:
            raise CalendarError(f"{where}: {d.isoformat()} is listed twice in '{key}'")
        seen.add(d)
    return frozenset(seen)


def _parse_date(where: str, raw: Any) -> date:
    # YAML turns an unquoted 2025-10-01 into a date already; a quoted one stays a string.
    if isinstance(raw, datetime):
        raise CalendarError(f"{where}: expected a date, got a date and time {raw!r}")
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise CalendarError(f"{where}: {raw!r} is not a YYYY-MM-DD date")
