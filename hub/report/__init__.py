"""Reports computed from the audit log: ``hub report weekly`` (the 周报表 forms 1–3 of
临医保发〔2019〕8号).

``weekly`` computes (pure, no database) from what ``reader`` reads of the log, with the
``rules`` and into the ``forms``; ``render`` lays the result out as CSV, printable HTML and a
terminal table.  The command line is ``hub.cli.report``.
"""

from hub.report.forms import WeeklyReport
from hub.report.rules import week_bounds
from hub.report.weekly import build_weekly_report

__all__ = ["WeeklyReport", "build_weekly_report", "week_bounds"]
