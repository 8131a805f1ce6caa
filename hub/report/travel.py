"""What a bureau's weekly report says when it goes up (``hub report weekly --send``, the demo).

A county's figures are what the hub's log supports for its region and week; a city's (any level
that others report to) are the cell-by-cell sum of the reports it received for the week, which
``based_on`` names, so the level above can check both the sum and the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.core.errors import UsageError
from hub.report.check import figures, submissions, summed
from hub.report.weekly import weekly_report_from_store
from hub.sla.weekly import supervisor
from hub.trust.address import Address
from hub.trust.regions import level

if TYPE_CHECKING:
    from hub.audit.store import AuditStore


def upward_report(
    audit: AuditStore,
    me: Address,
    week: str,
    registered: set[Address],
    closures: Sequence[str] = (),
) -> tuple[Address, dict[str, Any]]:
    """(the bureau to send to, the ``weekly_report`` payload); ``closures`` are the ids of the
    closures whose processing reports travel as documents 1, 2, … in that order."""
    above = supervisor(me, registered)
    if above is None:
        raise UsageError(f"{me} reports to no one: no MIB connector above it is registered")
    if level(me.region) == "county":
        figs, based_on = figures(weekly_report_from_store(audit, me.region, week)), []
    else:
        got = submissions(audit.events_of_kinds(["weekly_report"]), recipient=str(me), week=week)
        if not got:
            raise UsageError(
                f"{me} has received no weekly report for {week} from the level below: "
                "its report is the sum of theirs"
            )
        figs, based_on = summed(s.figures for s in got), [s.message_id for s in got]
    return above, {
        "region": me.region,
        "week": week,
        "figures": [{"key": k, "value": v} for k, v in sorted(figs.items())],
        "based_on": based_on,
        "processing_reports": [{"n": n, "closure_id": c} for n, c in enumerate(closures, 1)],
        "submitted_at": datetime.now(UTC),
    }
