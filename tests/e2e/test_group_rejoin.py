"""A process killed with ``kill -9`` leaves its member in the consumer group until the broker's
session timeout; its successor (same instance, holding the instance's lock) removes that member
before joining, so the join does not wait for it (issue 31.1).  On the embedded Tansu broker, as
a standalone broker outlives a hub: measured in docs/operations.md, never asserted here."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from hub.core.config import Settings
from hub.runtime.broker import EmbeddedBroker
from hub.runtime.membership import GroupMembership

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]

MEMBER = textwrap.dedent("""
    import asyncio, sys
    from aiokafka import AIOKafkaConsumer
    from hub.core.config import Settings
    from hub.runtime.membership import GroupMembership
    from pathlib import Path

    async def main():
        membership = GroupMembership(Settings(home=Path(sys.argv[2])), sys.argv[1], "g", "run")
        c = AIOKafkaConsumer("t", bootstrap_servers=sys.argv[1], group_id="g",
                             session_timeout_ms=10000, heartbeat_interval_ms=1000)
        await c.start()
        while not c.assignment():
            await asyncio.sleep(0.05)
        membership.record(c._coordinator.member_id)
        print("joined", c._coordinator.member_id, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
""")


#: The same with kafka-python, as connectors (gateways, outbox relays) and the audit sink read.
SYNC_MEMBER = textwrap.dedent("""
    import sys
    from kafka import KafkaConsumer
    from hub.core.config import Settings
    from hub.runtime.membership import GroupMembership, subscribe_remembering
    from pathlib import Path

    membership = GroupMembership(Settings(home=Path(sys.argv[2])), sys.argv[1], "g", "run")
    c = KafkaConsumer(bootstrap_servers=sys.argv[1], group_id="g", session_timeout_ms=10000,
                      heartbeat_interval_ms=1000, enable_auto_commit=False)
    subscribe_remembering(c, ["t"], membership)
    while not c.assignment():
        c.poll(timeout_ms=100)
    print("joined", membership.path.read_text(), flush=True)
    while True:
        c.poll(timeout_ms=1000)
""")


def members(bootstrap: str) -> list[str]:
    """The member ids the coordinator lists for group g (DescribeGroups, asked with aiokafka's
    client: kafka-python cannot read Tansu's answer)."""
    from aiokafka.client import AIOKafkaClient, CoordinationType
    from aiokafka.protocol.admin import DescribeGroupsRequest

    async def ask() -> list[str]:
        client = AIOKafkaClient(bootstrap_servers=bootstrap)
        await client.bootstrap()
        try:
            node = await client.coordinator_lookup(CoordinationType.GROUP, "g")
            answer = await client.send(node, DescribeGroupsRequest(["g"]))
        finally:
            await client.close()
        [group] = answer.groups
        return [m[0] for m in group[5]]  # (error, group, state, protocol type, protocol, members)

    return asyncio.run(ask())


@pytest.mark.parametrize("member", [MEMBER, SYNC_MEMBER], ids=["aiokafka", "kafka-python"])
def test_the_successor_of_a_killed_member_removes_it_before_joining(
    tmp_path: Path, member: str
) -> None:
    with EmbeddedBroker() as broker:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics([NewTopic("t", 3, 1)])
        admin.close()
        first = subprocess.Popen([sys.executable, "-c", member, broker.bootstrap, str(tmp_path)],
                                 stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
        try:
            line = first.stdout.readline() if first.stdout else ""
            assert line.startswith("joined "), line
            dead = line.split()[1]
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        # A 10 s session: without the successor's LeaveGroup the member stays that long (and Tansu
        # would hold the next join until then); it is listed now, seconds after the kill.
        assert members(broker.bootstrap) == [dead]
        membership = GroupMembership(Settings(home=tmp_path), broker.bootstrap, "g", "run")
        assert membership.path.read_text() == dead
        assert asyncio.run(membership.evict_predecessor()) == dead
        assert members(broker.bootstrap) == []
        assert not membership.path.exists()
        # Nothing recorded (a clean stop forgot it): nothing is sent, nothing is removed.
        assert asyncio.run(membership.evict_predecessor()) is None
