"""Working-day arithmetic against the packaged PRC holiday calendars (no broker needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.sla.workdays import (
    CALENDAR_DIR,
    CalendarError,
    WorkCalendar,
    default_calendar,
    end_of_local_day,
    load_calendar,
)

SH = ZoneInfo("Asia/Shanghai")


def bj(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def end_of(y: int, m: int, d: int) -> datetime:
    """24:00 Beijing time of the given day, spelled independently of the code under test."""
    return datetime(y, m, d, 16, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return default_calendar()


# -- packaged data ----------------------------------------------------------------------------


def test_packaged_calendar_covers_2024_to_2026(cal: WorkCalendar) -> None:
    assert cal.years == frozenset({2024, 2025, 2026})
    assert cal.covers(date(2025, 6, 1))
    assert not cal.covers(date(2023, 12, 31))
    assert not cal.covers(date(2027, 1, 1))


@pytest.mark.parametrize(
    ("year", "holidays", "makeups"),
    [(2024, 28, 8), (2025, 28, 5), (2026, 33, 6)],
)
def test_packaged_calendar_entry_counts(
    cal: WorkCalendar, year: int, holidays: int, makeups: int
) -> None:
    assert sum(1 for d in cal.holidays if d.year == year) == holidays
    assert sum(1 for d in cal.makeup_workdays if d.year == year) == makeups


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 2, 4), True),  # Sunday make-up for 春节
        (date(2024, 2, 9), True),  # 除夕 2024 is only "encouraged" off, officially a workday
        (date(2024, 2, 16), False),
        (date(2024, 5, 11), True),  # Saturday make-up for 劳动节
        (date(2024, 6, 10), False),
        (date(2024, 9, 14), True),
        (date(2024, 10, 12), True),
        (date(2025, 1, 26), True),
        (date(2025, 2, 4), False),
        (date(2025, 2, 8), True),
        (date(2025, 4, 27), True),
        (date(2025, 6, 2), False),
        (date(2026, 1, 2), False),
        (date(2026, 1, 4), True),
        (date(2026, 5, 9), True),
        (date(2026, 6, 19), False),
        (date(2026, 9, 20), True),
        (date(2026, 10, 10), True),
    ],
)
def test_official_schedule_samples(cal: WorkCalendar, day: date, expected: bool) -> None:
    assert cal.is_workday(day) is expected


# -- 2025 National Day + Mid-Autumn (10-01..10-08, make-up 09-28 Sun and 10-11 Sat) -----------


def test_national_day_2025_working_status(cal: WorkCalendar) -> None:
    assert cal.is_workday(date(2025, 9, 28))  # Sunday, but 调休上班
    assert cal.is_workday(date(2025, 9, 30))
    assert not any(cal.is_workday(date(2025, 10, d)) for d in range(1, 9))
    assert cal.is_workday(date(2025, 10, 9))
    assert cal.is_workday(date(2025, 10, 11))  # Saturday, but 调休上班
    assert not cal.is_workday(date(2025, 10, 12))  # ordinary Sunday


def test_one_workday_from_eve_of_national_day_is_end_of_october_9(cal: WorkCalendar) -> None:
    due = cal.add_workdays(bj(2025, 9, 30, 10), 1)
    assert due == end_of(2025, 10, 9)
    assert due == bj(2025, 10, 10)  # 24:00 of 10-09 is 00:00 of 10-10 local
    assert due.tzinfo is UTC


@pytest.mark.parametrize(
    ("n", "due_day"),
    [(2, (2025, 10, 10)), (3, (2025, 10, 11)), (4, (2025, 10, 13))],
)
def test_make_up_saturday_counts_as_a_workday(
    cal: WorkCalendar, n: int, due_day: tuple[int, int, int]
) -> None:
    assert cal.add_workdays(bj(2025, 9, 30, 10), n) == end_of(*due_day)


def test_make_up_sunday_before_the_holiday_counts(cal: WorkCalendar) -> None:
    # Saturday 09-27 start: the next working day is Sunday 09-28, not Monday 09-29.
    assert cal.add_workdays(bj(2025, 9, 27, 15), 1) == end_of(2025, 9, 28)


def test_start_day_never_counts_whatever_the_hour(cal: WorkCalendar) -> None:
    assert cal.add_workdays(bj(2025, 9, 29, 0, 0), 1) == end_of(2025, 9, 30)
    assert cal.add_workdays(bj(2025, 9, 29, 23, 59), 1) == end_of(2025, 9, 30)


def test_start_is_read_in_beijing_time_not_utc(cal: WorkCalendar) -> None:
    # 17:00 UTC on 09-29 is already 01:00 on 09-30 in Beijing, so the start day is 09-30.
    start = datetime(2025, 9, 29, 17, 0, tzinfo=UTC)
    assert cal.add_workdays(start, 1) == end_of(2025, 10, 9)
    # ...whereas 15:59 UTC is still 09-29 in Beijing.
    assert cal.add_workdays(datetime(2025, 9, 29, 15, 59, tzinfo=UTC), 1) == end_of(2025, 9, 30)


def test_is_workday_reads_aware_datetimes_in_beijing_time(cal: WorkCalendar) -> None:
    assert not cal.is_workday(datetime(2025, 9, 30, 16, 30, tzinfo=UTC))  # 10-01 00:30 local
    assert cal.is_workday(datetime(2025, 9, 30, 15, 30, tzinfo=UTC))


# -- 2026 Spring Festival (02-15..02-23, make-up 02-14 Sat and 02-28 Sat) ----------------------


def test_spring_festival_2026(cal: WorkCalendar) -> None:
    assert cal.add_workdays(bj(2026, 2, 13, 9), 1) == end_of(2026, 2, 14)
    assert cal.add_workdays(bj(2026, 2, 13, 9), 2) == end_of(2026, 2, 24)
    assert cal.add_workdays(bj(2026, 2, 14, 9), 1) == end_of(2026, 2, 24)
    assert cal.add_workdays(bj(2026, 2, 27, 9), 1) == end_of(2026, 2, 28)
    assert cal.add_workdays(bj(2026, 2, 28, 9), 1) == end_of(2026, 3, 2)
    assert cal.workdays_between(date(2026, 2, 13), date(2026, 2, 24)) == 2


def test_thirty_workdays_across_spring_festival_2026(cal: WorkCalendar) -> None:
    # Feb: 2..6 (5), 9..13 (10), 14 make-up (11), 24..27 (15), 28 make-up (16);
    # Mar: 2..6 (21), 9..13 (26), 16..19 (30).
    assert cal.add_workdays(bj(2026, 1, 30, 11), 30) == end_of(2026, 3, 19)


# -- plain weeks and fallback -----------------------------------------------------------------


def test_plain_weekend_is_skipped(cal: WorkCalendar) -> None:
    friday = bj(2025, 3, 7, 16)
    assert cal.add_workdays(friday, 1) == end_of(2025, 3, 10)
    assert cal.add_workdays(friday, 5) == end_of(2025, 3, 14)
    assert cal.add_workdays(bj(2025, 3, 8, 10), 1) == end_of(2025, 3, 10)  # from Saturday


def test_fallback_outside_covered_years_is_monday_to_friday(cal: WorkCalendar) -> None:
    assert not cal.covers(date(2030, 10, 1))
    assert cal.is_workday(date(2030, 10, 1))  # a real holiday, unknown to us: Tuesday counts
    assert not cal.is_workday(date(2030, 10, 5))  # Saturday
    assert cal.add_workdays(bj(2030, 10, 4, 9), 1) == end_of(2030, 10, 7)
    # Crossing from a covered into an uncovered year needs no exception either.
    assert cal.add_workdays(bj(2026, 12, 31, 9), 2) == end_of(2027, 1, 4)


def test_empty_calendar_is_pure_monday_to_friday() -> None:
    plain = WorkCalendar()
    assert not plain.covers(date(2025, 10, 1))
    assert plain.is_workday(date(2025, 10, 1))
    assert plain.add_workdays(bj(2025, 9, 30, 10), 1) == end_of(2025, 10, 1)


# -- workdays_between -------------------------------------------------------------------------


def test_workdays_between_is_half_open_and_signed(cal: WorkCalendar) -> None:
    assert cal.workdays_between(date(2025, 9, 30), date(2025, 9, 30)) == 0
    assert cal.workdays_between(date(2025, 9, 30), date(2025, 10, 8)) == 0
    assert cal.workdays_between(date(2025, 9, 30), date(2025, 10, 12)) == 3
    assert cal.workdays_between(date(2025, 10, 12), date(2025, 9, 30)) == -3
    assert cal.workdays_between(date(2025, 9, 26), date(2025, 9, 30)) == 3  # 28 Sun, 29, 30


@pytest.mark.parametrize("n", [1, 3, 30])
def test_workdays_between_inverts_add_workdays_over_a_year(cal: WorkCalendar, n: int) -> None:
    for offset in range(365):
        start = bj(2025, 1, 1, 14) + timedelta(days=offset)
        due = cal.add_workdays(start, n)
        due_day = (due.astimezone(SH) - timedelta(microseconds=1)).date()
        assert cal.is_workday(due_day), start
        assert cal.workdays_between(start.date(), due_day) == n, start
        assert due == end_of_local_day(due_day)


# -- argument checks --------------------------------------------------------------------------


def test_naive_datetimes_are_refused(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_workdays(datetime(2025, 9, 30, 10), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.is_workday(datetime(2025, 9, 30, 10))


@pytest.mark.parametrize("n", [0, -1])
def test_non_positive_workday_counts_are_refused(cal: WorkCalendar, n: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        cal.add_workdays(bj(2025, 9, 30), n)


def test_hand_built_calendar_rejects_overlap() -> None:
    d = date(2025, 10, 11)
    with pytest.raises(CalendarError, match="2025-10-11"):
        WorkCalendar(frozenset({d}), frozenset({d}), frozenset({2025}))


# -- loading and validation -------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD_2025 = """\
year: 2025
source: test
holidays:
  - {date: 2025-10-01, name: 国庆节}
workdays:
  - {date: 2025-09-28, name: 国庆节调休}
"""


def test_load_single_file_and_list_of_files(tmp_path: Path) -> None:
    one = load_calendar(write(tmp_path, "a.yaml", GOOD_2025))
    assert one.years == frozenset({2025})
    assert not one.is_workday(date(2025, 10, 1))
    assert one.is_workday(date(2025, 9, 28))
    assert one.is_workday(date(2025, 10, 2))  # not listed in this file: Thursday
    subset = load_calendar([CALENDAR_DIR / "cn-2025.yaml"])
    assert not subset.covers(date(2026, 2, 16))
    assert subset.is_workday(date(2026, 2, 16))


def test_quoted_dates_are_accepted(tmp_path: Path) -> None:
    text = 'year: 2025\nholidays:\n  - {date: "2025-10-01", name: x}\n'
    assert not load_calendar(write(tmp_path, "q.yaml", text)).is_workday(date(2025, 10, 1))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "year: 2025\nholidays:\n  - {date: 2025-10-11, name: x}\n"
            "workdays:\n  - {date: 2025-10-11, name: y}\n",
            "2025-10-11 is listed both as a holiday and as a make-up workday",
        ),
        (
            "year: 2025\nworkdays:\n  - {date: 2025-09-29, name: x}\n",
            "make-up workday 2025-09-29 is a Monday",
        ),
        (
            "year: 2025\nholidays:\n  - {date: 2026-01-01, name: x}\n",
            "2026-01-01 is outside the file's year 2025",
        ),
        (
            "year: 2025\nworkdays:\n  - {date: 2024-12-29, name: x}\n",
            "2024-12-29 is outside the file's year 2025",
        ),
        (
            "year: 2025\nholidays:\n  - {date: 2025-10-01}\n  - {date: 2025-10-01}\n",
            "2025-10-01 is listed twice",
        ),
        ('year: 2025\nholidays:\n  - {date: "2025-13-01"}\n', "is not a YYYY-MM-DD date"),
        ("year: 2025\nholidays:\n  - {date: 2025-13-01}\n", "month must be in 1..12"),
        ("year: 2025\nholidays:\n  - {date: 2025-10-01 09:00:00}\n", "a date and time"),
        ("year: 2025\nholidays:\n  - {name: x}\n", "holidays[0]: expected a mapping with a 'date'"),
        ("year: 2025\nholidays:\n  - {date: 2025-10-01, nmae: x}\n", "unknown key(s) nmae"),
        ("year: 2025\nworkday: []\n", "unknown key(s) workday"),
        ("year: '2025'\n", "'year' must be an integer"),
        ("holidays: []\n", "'year' must be an integer"),
        ("year: 2025\nholidays: 2025-10-01\n", "'holidays' must be a list"),
        ("- 2025\n", "expected a mapping"),
        ("year: [\n", "cannot read calendar"),
    ],
)
def test_invalid_files_name_file_and_problem(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, "cn-bad.yaml", text)
    with pytest.raises(CalendarError) as info:
        load_calendar(path)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_duplicate_year_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD_2025)
    second = write(tmp_path, "b.yaml", "year: 2025\nholidays: []\n")
    with pytest.raises(CalendarError, match="year 2025 is already defined") as info:
        load_calendar(tmp_path)
    assert str(second) in str(info.value)


def test_empty_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="no calendar files"):
        load_calendar(tmp_path)
    with pytest.raises(CalendarError, match="cannot read calendar"):
        load_calendar(tmp_path / "missing.yaml")


def test_packaged_files_each_validate_on_their_own() -> None:
    files = sorted(CALENDAR_DIR.glob("cn-*.yaml"))
    assert [f.name for f in files] == ["cn-2024.yaml", "cn-2025.yaml", "cn-2026.yaml"]
    for f in files:
        assert load_calendar(f).years == frozenset({int(f.stem[3:])})
