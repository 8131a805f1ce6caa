"""Rejoining a consumer group at once after ``kill -9``, on any Kafka-protocol broker.

A member that dies without a LeaveGroup stays in its group until the broker's session timeout,
and a broker holds the next join until then: a restarted hub waited ~11 s on a standalone Tansu
and, on another broker with a long rebalance timeout, never joined within its start-up bound.
KIP-345 static membership (``group.instance.id``) is the textbook answer, but Tansu never
completes a JoinGroup that carries one (measured: the join hangs), so the hub does what every
broker answers: each process instance records the member id the coordinator gave it
(``<home>/groups/<group>.<instance>.member``), and the next process of the same instance sends
LeaveGroup for it before joining.  The instance's lock (``hub.core.process_lock``: ``run``,
``worker-N``, ``audit-sink``) guarantees that the member recorded is not alive: only a dead
predecessor is ever removed.  What is left is the broker's own join delay (Tansu: half the
session timeout: 2 s at the embedded broker's 4 s, 3 s at 6 s; docs/operations.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.protocol.group import LeaveGroupRequest

from hub.core.config import Settings
from hub.core.files import private_dir, write_atomic
from hub.runtime.kafka_security import aiokafka_security

log = logging.getLogger("hub.run")

#: LeaveGroup's answers when the member was gone already: its session had expired, or the
#: broker is new (an embedded broker dies with its hub) and knows no such group.
GONE = {25: "UNKNOWN_MEMBER_ID", 69: "GROUP_ID_NOT_FOUND"}


class GroupMembership:
    """The member id one process instance holds in ``group``, kept so that its successor can
    remove it after a crash."""

    def __init__(self, settings: Settings, bootstrap: str, group: str, instance: str) -> None:
        self.settings, self.bootstrap = settings, bootstrap
        self.group, self.instance = group, instance
        self.path = settings.home / "groups" / f"{group}.{instance}.member"

    def record(self, member_id: str) -> None:
        """After each join: the id a successor must remove if this process dies."""
        if member_id:
            private_dir(self.path.parent)
            write_atomic(self.path, member_id.encode())

    def forget(self) -> None:
        """After a clean stop (the client left the group itself): nothing for a successor."""
        self.path.unlink(missing_ok=True)

    async def evict_predecessor(self, timeout_s: float = 10.0) -> str | None:
        """Remove the member a killed predecessor of this instance left in the group; returns
        its id when one was removed.  Best effort: a broker that cannot be asked costs only the
        wait this would have saved."""
        try:
            old = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        if not old:
            return None
        client = AIOKafkaClient(bootstrap_servers=self.bootstrap,
                                **aiokafka_security(self.settings))  # fmt: skip
        try:
            await asyncio.wait_for(client.bootstrap(), timeout_s)
            node = await asyncio.wait_for(
                client.coordinator_lookup(CoordinationType.GROUP, self.group), timeout_s
            )
            answer = await asyncio.wait_for(client.send(node, LeaveGroupRequest(self.group, old)),
                                            timeout_s)  # fmt: skip
        except Exception as exc:  # the join then waits out the dead member's session
            log.warning("group %s: could not remove the member a stopped %s left (%s); the "
                        "join may wait for its session to expire", self.group, self.instance,
                        type(exc).__name__)  # fmt: skip
            return None
        finally:
            await client.close()
        self.path.unlink(missing_ok=True)
        if answer.error_code in GONE:
            log.info("group %s: the member a stopped %s left is gone already (%s)", self.group,
                     self.instance, GONE[answer.error_code])  # fmt: skip
            return None
        if answer.error_code:
            log.warning("group %s: LeaveGroup for the member a stopped %s left answered error %d",
                        self.group, self.instance, answer.error_code)  # fmt: skip
            return None
        log.info("group %s: removed member %s that a stopped %s left, so the join need not wait "
                 "for its session to expire", self.group, old, self.instance)  # fmt: skip
        return old


def subscribe_remembering(
    consumer: Any, topics: list[str], membership: GroupMembership | None
) -> None:
    """Subscribe a kafka-python ``consumer`` to ``topics``, recording its member id after every
    join when a ``membership`` is given (the process holds that instance's lock)."""
    from kafka import ConsumerRebalanceListener

    class Remember(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked: Any) -> None:
            pass

        def on_partitions_assigned(self, assigned: Any) -> None:
            if membership is not None:
                generation = getattr(consumer._coordinator, "_generation", None)
                membership.record(str(getattr(generation, "member_id", "") or ""))

    consumer.subscribe(topics, listener=Remember())
