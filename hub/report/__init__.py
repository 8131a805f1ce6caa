"""Reports computed from the audit log: ``hub report weekly`` (seed 004's 周报表 forms 1–3).

``weekly`` computes (pure, no database), ``render`` lays the result out as CSV and printable
HTML, ``cli`` is the command line.
"""

from hub.report.weekly import WeeklyReport, build_weekly_report, week_bounds

__all__ = ["WeeklyReport", "build_weekly_report", "week_bounds"]
