"""A submitted weekly report beside what the hub's own log supports for that region and week.

Forms 1–3 travel as *figures*: one integer per cell, keyed by its place
(``form3/national_total/closed``, ``form1/hospital/sanctions/interview``,
``form1/pharmacy/loss/suspension/violation_fen`` …); the 万元 renderings are left out, since
they follow from the fen.  The level that receives a report sees every cell the submission or
the log has, with a flag:

* ``ok``: the same number;
* ``DIFFERS``: both have it, with other numbers;
* ``NOT IN LOG``: the submission gives a number the log has no cell for (e.g. a batch the log
  never saw), so nothing supports it;
* ``NOT SUBMITTED``: the log has a non-zero number the submission leaves out.

A report that sums the level below (a city's, from its counties' submissions) is checked the
same way against the log of its own region.  Pure: records in, rows out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.report.forms import WeeklyReport

OK, DIFFERS, NOT_IN_LOG, NOT_SUBMITTED = "ok", "DIFFERS", "NOT IN LOG", "NOT SUBMITTED"


def _slug(text: Any) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", str(text).lower()).strip("_") or "x"


def figures(report: WeeklyReport) -> dict[str, int]:
    """The report's cells as ``key → integer``."""
    data = report.to_json()
    out: dict[str, int] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int):
            out[prefix] = value
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}/{_slug(k)}", v)

    walk("form1", data["form1"])
    walk("form2", data["form2"])
    form3 = data["form3"]
    for group in ("national", "provincial"):
        for row in form3[group]:
            n = row["batch_number"]
            for column in ("total", "closed", "verified"):
                out[f"form3/{group}/b{n if n is not None else 'x'}/{column}"] = row[column]
        for column in ("total", "closed", "verified"):
            out[f"form3/{group}_total/{column}"] = form3[f"{group}_total"][column]
    for column in ("total", "closed", "verified"):
        out[f"form3/whistleblower/{column}"] = form3["whistleblower"][column]
    return out


def parse_figures(text: str) -> dict[str, int]:
    """The audit log's ``figures`` fact (``key=value`` …) back into cells."""
    out = {}
    for item in text.split():
        key, _, value = item.partition("=")
        if key and value.lstrip("-").isdigit():
            out[key] = int(value)
    return out


def summed(submissions: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The cell-by-cell sum of the level below's submissions: a city's report upward."""
    out: dict[str, int] = {}
    for figs in submissions:
        for key, value in figs.items():
            out[key] = out.get(key, 0) + value
    return out


@dataclass(frozen=True)
class Cell:
    key: str
    submitted: int | None
    supported: int | None

    @property
    def flag(self) -> str:
        if self.submitted is None:
            return NOT_SUBMITTED
        if self.supported is None:
            return NOT_IN_LOG
        return OK if self.submitted == self.supported else DIFFERS

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "submitted": self.submitted, "log": self.supported,
                "flag": self.flag}  # fmt: skip


def compare(submitted: Mapping[str, int], supported: Mapping[str, int]) -> list[Cell]:
    """Every cell either side has (a log cell that is zero and not submitted is no news)."""
    keys = set(submitted) | {k for k, v in supported.items() if v}
    return [Cell(k, submitted.get(k), supported.get(k)) for k in sorted(keys)]


@dataclass(frozen=True)
class Submission:
    """One ``weekly_report`` as the audit log recorded it."""

    message_id: str
    sender: str
    recipient: str
    region: str
    week: str
    occurred_at: str
    figures: dict[str, int]
    based_on: tuple[str, ...]
    processing_reports: int
    #: Each cell beside what the log supports (filled in by the one who checks it).
    cells: tuple[Cell, ...] = ()

    @property
    def flagged(self) -> list[Cell]:
        return [c for c in self.cells if c.flag != OK]

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "region": self.region,
            "week": self.week,
            "received_at": self.occurred_at,
            "based_on": list(self.based_on),
            "processing_reports": self.processing_reports,
            "cells": [c.to_json() for c in self.cells],
            "flagged": len(self.flagged),
        }


def submissions(
    records: Iterable[Mapping[str, Any]], *, recipient: str | None = None, week: str | None = None
) -> list[Submission]:
    """The ``weekly_report`` records of the log, to ``recipient`` and for ``week`` if given;
    one per sender and week (the first recorded: a second is refused by the ledger anyway)."""
    out: dict[tuple[str, str], Submission] = {}
    for r in records:
        if r.get("kind") != "weekly_report":
            continue
        facts = json.loads(r.get("facts") or "{}")
        if recipient is not None and r.get("recipient") != recipient:
            continue
        if week is not None and facts.get("week") != week:
            continue
        key = (str(r.get("sender")), str(facts.get("week")))
        if key in out:
            continue
        out[key] = Submission(
            message_id=str(r.get("message_id")),
            sender=str(r.get("sender")),
            recipient=str(r.get("recipient")),
            region=str(facts.get("region", "")),
            week=str(facts.get("week", "")),
            occurred_at=str(r.get("occurred_at")),
            figures=parse_figures(facts.get("figures", "")),
            based_on=tuple(str(facts.get("based_on", "")).split()),
            processing_reports=int(facts.get("processing_reports", 0) or 0),
        )
    return list(out.values())
