"""``hub topics plan|apply`` against a running broker (the embedded one of the session hub)."""

from __future__ import annotations

import uuid

from kafka import KafkaAdminClient

from tests.hubproc import HubProcess


def test_plan_finds_every_topic_of_a_running_hub_and_apply_creates_only_what_is_missing(
    hub: HubProcess,
) -> None:
    plan = hub.cli("topics", "plan").stdout
    lines = [line for line in plan.splitlines() if line.startswith("hub.")]
    assert lines and all(" exists " in line for line in lines), plan
    assert any(line.startswith("hub.inbox.MIB.350582 ") for line in lines)

    # A topic the hub needs, deleted behind its back, is created again by apply (and only it).
    admin = KafkaAdminClient(bootstrap_servers=hub.state.bootstrap, client_id=f"t-{uuid.uuid4()}")
    try:
        admin.delete_topics(["hub.inbox.SAMR.350582"])
    finally:
        admin.close()
    missing = hub.cli("topics", "plan").stdout
    assert any(
        line.startswith("hub.inbox.SAMR.350582 ") and " create " in line
        for line in missing.splitlines()
    ), missing
    applied = hub.cli("topics", "apply").stdout
    assert "1 topic(s) created" in applied and "created hub.inbox.SAMR.350582" in applied
