"""On a running hub, every connector receives signed tree heads of the audit log, keeps the last
one, accepts each next one only with a consistency proof from it, and the hub's own log proves
the head the connector kept."""

from __future__ import annotations

import json
import time

import pytest

from hub.audit.transparency import ORIGIN
from tests.e2e.test_end_to_end import payload
from tests.hubproc import start_hub


def test_a_connector_keeps_the_tree_head_and_checks_each_next_one(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    hub = start_hub(
        tmp_path_factory.mktemp("tree-heads"), extra_env={"HUB_TREE_HEAD_INTERVAL_S": "1"}
    )
    try:
        mib = hub.connector("MIB@350582")
        psb = hub.connector("PSB@350582")
        assert psb.witness is not None

        def kept_size_beyond(size: int, timeout: float = 60) -> int:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                psb.consume(lambda msg: None, follow=False, idle_timeout_s=2)
                kept = psb.witness.kept(ORIGIN)  # type: ignore[union-attr]
                if kept is not None and kept.tree_size > size:
                    return kept.tree_size
            raise TimeoutError(f"no tree head beyond {size} records")

        mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
        first = kept_size_beyond(0)
        mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
        second = kept_size_beyond(first)
        assert psb.rejected == 0  # every head was consistent with the one before
        psb.close()
        shown = json.loads(hub.cli("audit", "witness", "PSB@350582", "--json").stdout)
        assert shown["tree_size"] == second and shown["gaps"] == []
        proof = json.loads(hub.cli("audit", "consistency", "--old-size", str(second)).stdout)
        assert proof["old_root"] == shown["root_hash"]  # the hub's log proves what PSB keeps
    finally:
        hub.stop()
