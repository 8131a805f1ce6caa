"""The short multi-host drill (the long one: ``ops/drills/hosts.py --cut 30``): broker, store,
two hub hosts, the audit sink and two agencies' gateways, each in its own network namespace.
hub-a is killed, then cut from the broker, then from the store, under steady load; every clue
is delivered exactly once, ledger and audit log agree, the log verifies, every receipt deadline
breaches once.  Skipped, with the reason, where network namespaces cannot be made."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.drills.hosts import Drill
from ops.drills.netns import available

pytestmark = pytest.mark.broker

WHY_NOT = available()


@pytest.mark.skipif(WHY_NOT is not None, reason=f"no network namespaces here: {WHY_NOT}")
def test_a_hub_host_killed_and_cut_from_broker_and_store_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    tmp_path.chmod(0o755)  # the store host's postgres user reads its folder
    # A 2 s session (as the embedded broker's) and 3 s cuts, longer than it, so hub-a really
    # loses its partitions; the long drill keeps Kafka's 6 s and cuts for 30 s.
    report = Drill(tmp_path, cut_s=3.0, rate=5.0, lease_s=3.0, session_timeout_s=2.0).run()
    report.print()
    assert not report.failures, report.failures
    assert report.sent > 0
    assert report.checks["delivered rows"] == report.sent
    assert report.checks["receipt breaches fired"] == report.sent
    assert report.checks["hub audit verify"] == "passes"
    assert len(report.times) == 5
