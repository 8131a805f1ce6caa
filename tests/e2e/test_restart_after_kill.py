"""``kill -9`` of ``hub run`` and an immediate restart: the new hub starts (the killed one is not
even reaped yet), routes again, and the killed hub's embedded broker is gone with it."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.e2e.test_end_to_end import payload
from tests.hubproc import start_hub, wait_for_messages, wait_until

pytestmark = pytest.mark.broker


def broker_pids(log: str) -> list[int]:
    return [int(p) for p in re.findall(r"embedded broker ready at \S+ \(pid (\d+)\)", log)]


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie waiting for whoever adopted it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_a_hub_killed_outright_restarts_at_once_routes_and_leaves_no_broker_behind(
    tmp_path: Path,
) -> None:
    home = tmp_path / "hub"
    first = start_hub(home)
    [broker] = broker_pids(first.log())
    os.kill(first.process.pid, signal.SIGKILL)  # and not reaped: it stays a zombie for now
    second = start_hub(home)
    try:
        wait_until(lambda: gone(broker), timeout=10, what=f"the killed hub's broker {broker} gone")
        mib, psb = second.connector("MIB@350582"), second.connector("PSB@350582")
        mid = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
        assert mid in wait_for_messages(psb, [mid])
        # The join, the longest step of a start, is under way while the store is opened.
        log = second.log()
        assert log.index("joining consumer group") < log.index("waiting for the store")
    finally:
        second.stop()
        first.process.wait()
    [_, broker2] = broker_pids(second.log())
    assert gone(broker2)
