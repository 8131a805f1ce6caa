"""The router's seat in its consumer group, taken while the rest of ``hub run`` is being built.

The group join is the longest step of a start: Tansu holds every JoinGroup for about half the
session timeout (2 s at the embedded broker's 4 s) and Kafka for its initial rebalance delay.
Nothing in a join depends on the store, the directory or the pipeline, so ``hub run`` starts it
as soon as ``hub.ingress`` exists and imports, opens and builds the rest while the broker holds
the join: restart → routing is then the join plus what cannot overlap it (the interpreter, the
broker, the topics), not their sum.

Nothing is read early.  The rebalance listener (:class:`~hub.runtime.ingress.loop.Handover`)
reports an assignment only once the ingress loop is bound to it, and the loop fetches only after
it took the seat, so every record still meets the whole pipeline and its outcome comes before its
commit.  This module imports only the Kafka client: importing the pipeline is what it overlaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from hub.runtime.ingress.loop import ConsumerFactory, Handover
from hub.runtime.membership import GroupMembership
from hub.wire.topics import router_group

if TYPE_CHECKING:
    from hub.core.config import Settings
    from hub.runtime.ingress.loop import IngressLoop

log = logging.getLogger("hub.run")


class RouterSeat:
    """A started join of the ingress group, handed to the first :meth:`IngressLoop.run`."""

    def __init__(self, make_consumer: ConsumerFactory, membership: GroupMembership | None) -> None:
        self.handover = Handover()
        self._task: asyncio.Task[Any] = asyncio.create_task(
            self._join(make_consumer, membership), name="router-seat"
        )

    async def _join(self, make_consumer: ConsumerFactory,
                    membership: GroupMembership | None) -> Any:  # fmt: skip
        if membership is not None:
            await membership.evict_predecessor()
        consumer = self.handover.consumer = make_consumer(self.handover)
        await consumer.start()  # returns once the group assigned this member its partitions
        return consumer

    async def take(self, loop: IngressLoop) -> Any:
        """The started consumer, its assignment reported to ``loop``."""
        self.handover.bind(loop)
        return await self._task

    async def close(self) -> None:
        """Leave the group if no loop took the seat (a start that failed on the way)."""
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        consumer = self.handover.consumer
        if consumer is not None and not self.handover.bound:
            with contextlib.suppress(Exception):
                await consumer.stop()


def router_consumer(settings: Settings, bootstrap: str) -> ConsumerFactory:
    """How a router worker makes its consumer of ``hub.ingress``."""
    from hub.runtime.kafka_clients import ingress_consumer

    return lambda listener: ingress_consumer(bootstrap, settings, listener)


def router_membership(settings: Settings, bootstrap: str, instance: str) -> GroupMembership:
    """The member of the router group that process instance ``instance`` holds."""
    return GroupMembership(settings, bootstrap, router_group(settings.app_id), instance)


def take_router_seat(
    settings: Settings, bootstrap: str, instance: str = "run", *, new_broker: bool = False
) -> RouterSeat:
    """Start joining the router workers' group now (``hub.ingress`` must exist).  On a broker
    this process has just started (the embedded one) no member of a predecessor can be left."""
    log.info("joining consumer group %s on %s while the hub is built",
             router_group(settings.app_id), bootstrap)  # fmt: skip
    membership = router_membership(settings, bootstrap, instance)
    if new_broker:
        membership.forget()
    return RouterSeat(router_consumer(settings, bootstrap), membership)
