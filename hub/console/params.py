"""What an officer's browser may put in a console URL, checked before any page is built.

Every query parameter the console reads means the same on every page, so one table checks them
all: a value off its shape is a 400 with a plain message, never a 500 from deep in a query or a
date computation (``?since=0001-01-01`` used to overflow a ``datetime``).  Hand-off ids in paths
are checked against the envelope's id alphabet, so none forges a log line or an audit column.
Pure: no request, no database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date

from hub.lifecycle.states import State
from hub.wire.envelope import ID_PATTERN, ID_RULE
from hub.wire.families import FAMILIES

#: Dates the console answers for: a window wide enough for any case, narrow enough that no
#: arithmetic on it leaves the range of a ``datetime``.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
_REGION = re.compile(r"\d{6}")
_AGENCY = re.compile(r"[A-Za-z]{2,10}(@\d{6})?")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_PAGE = re.compile(r"\d{1,5}")
#: Paths that carry a hand-off id as their second segment.
HANDOFF_PATH = re.compile(r"/handoffs/([^/]*)(/.*)?")


def _day(value: str) -> str | None:
    try:
        d = date.fromisoformat(value)
    except ValueError:
        return "a date YYYY-MM-DD"
    if not FIRST_DAY <= d <= LAST_DAY:
        return f"a date from {FIRST_DAY} to {LAST_DAY}"
    return None


def _week(value: str) -> str | None:
    m = _WEEK.fullmatch(value)
    if m is not None and FIRST_DAY.year <= int(m[1]) <= LAST_DAY.year:
        try:
            date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return None
        except ValueError:
            pass
    return f"an ISO week YYYY-Www from {FIRST_DAY.year} to {LAST_DAY.year}, e.g. 2026-W49"


def _shape(pattern: re.Pattern[str], what: str) -> Callable[[str], str | None]:
    return lambda value: None if pattern.fullmatch(value) else what


def _one_of(names: set[str], what: str) -> Callable[[str], str | None]:
    return lambda value: None if value in names or value.upper() in names else what


def _reference(value: str) -> str | None:
    return None if len(value) <= 64 and value.isprintable() else "at most 64 printable characters"


RULES: dict[str, Callable[[str], str | None]] = {
    "message_id": _shape(ID_PATTERN, ID_RULE),
    "officer": _shape(ID_PATTERN, "an officer's account name, " + ID_RULE),
    "reference": _reference,
    "agency": _shape(_AGENCY, "an agency code such as PSB, or PSB@350582"),
    "region": _shape(_REGION, "a six-digit region code such as 350582"),
    "family": _one_of({n for n, f in FAMILIES.items() if not f.hub_only}, "a message family"),
    "state": _one_of({s.value for s in State}, "a state of the 台账"),
    "since": _day,
    "until": _day,
    "week": _week,
    "page": _shape(_PAGE, "a page number"),
    "overdue": _one_of({"1", "on", "true", "0", "off", "false"}, "on or off"),
}


def problem(path: str, query: Iterable[tuple[str, str]]) -> str | None:
    """What is wrong with a request's path id or its query (every value of every name), in
    plain words, or None.  An empty value means "not given" (forms send empty fields)."""
    m = HANDOFF_PATH.fullmatch(path)
    if m is not None and not ID_PATTERN.fullmatch(m[1]):
        return f"a hand-off id is {ID_RULE}"
    for name, value in query:
        rule = RULES.get(name)
        if rule is None or not value.strip():
            continue
        wrong = rule(value.strip())
        if wrong:
            return f"{name} must be {wrong}"
    return None
