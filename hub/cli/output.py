"""What the command line prints: tables for people, one JSON object per line for machines.

Tables come from the one printer (:mod:`hub.core.table`), which lines up Chinese text.  JSON
keeps Chinese as it is (``ensure_ascii=False``) and turns dates and other values into strings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hub.core.table import render_table


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    return render_table(headers, rows)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


def progress(what: str) -> Callable[[int], None] | None:
    """A counter on standard error for long work, when a person is watching (a terminal)."""
    if not sys.stderr.isatty():
        return None
    return lambda n: print(f"\r{what}: {n:,} records…", end="", file=sys.stderr, flush=True)


def byte_progress(what: str) -> Callable[[int, int], None] | None:
    """Bytes done of a total on standard error, when a person is watching (a terminal)."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        end = "\n" if done >= total else ""
        line = f"\r{what}: {done / 2**20:,.1f} of {total / 2**20:,.1f} MiB ({percent}%)"
        print(line, end=end, file=sys.stderr, flush=True)

    return show
