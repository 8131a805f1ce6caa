"""The short crash drill (the long one: ops/drills/crash.py): SIGKILL the hub twice under load.

Every message reaches the inbox, is delivered once in the store, has exactly one ``delivered``
record in the audit log, and the log verifies.
"""

from __future__ import annotations

from pathlib import Path

from ops.drills.crash import run_drill


def test_the_hub_killed_twice_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    report = run_drill(tmp_path, messages=120, kills=2, rate=20.0, timeout=300)
    assert report.ok, "\n".join(report.lines())
    assert len(report.restarts_to_routing_s) == 2
