"""Publishing signed tree heads of the audit log to every connector's inbox.

On each tick (in the process holding the ``tree-heads`` lease) the publisher takes the audit
log as the sink has written it so far, and if it grew since the last head: builds the RFC 9162
tree, signs its head as a C2SP checkpoint with the operators' key, adds consistency proofs
from the latest heads it published before, records the head in the hub's store (with the
lease's fence), sends it to every registered connector, and marks it published.  Each
connector keeps the last head it checked and takes a new one only with a proof from it
(``connectors.witness``), so a log the hub host rewrote shows at every agency.

The heads themselves are not audit records: logging them would grow the log at every tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hub.audit.store import AuditStore
from hub.audit.tiles import TileLog
from hub.audit.transparency import origin_of, signed_checkpoint, tiled
from hub.routing.operators_mail import EnsureInbox, queue_from_operators
from hub.storage.leases import Lease, LeaseLost
from hub.storage.tree_heads import PublishedHead, TreeHeads
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.trust.operators import OPERATORS
from hub.wire.families.tree_head import NAME as TREE_HEAD
from hub.wire.jsonpayload import from_json, to_json
from hub.wire.schemas import SchemaRegistry

log = logging.getLogger("hub.audit")

#: Kafka key of every head: one partition per inbox, so a connector reads them in order.
RECORD_KEY = b"tree-head"


def message_id(tree_size: int) -> str:
    return f"treehead-{tree_size}"


class TreeHeadPublisher:
    def __init__(
        self,
        registry: SchemaRegistry,
        audit: Callable[[], AuditStore],
        heads: TreeHeads,
        directory: Callable[[], Directory],
        key: Callable[[], SigningKey],
        ensure_inbox: EnsureInbox,
        *,
        proofs: int = 16,
        clock: Callable[[], datetime] | None = None,
        lease: Callable[[], Lease | None] | None = None,
    ) -> None:
        self.registry = registry
        self.audit = audit
        self.heads = heads
        self.directory = directory
        self.key = key
        self.ensure_inbox = ensure_inbox
        self.proofs = proofs
        self.clock = clock or (lambda: datetime.now(UTC))
        #: The tree-heads lease while this process holds it; None: not leased (one process).
        self.lease = lease
        self.schema = registry.latest(TREE_HEAD)

    async def tick(self, producer: Any) -> int:
        """Publish what is pending, then a new head if the log grew; returns heads published."""
        done = 0
        for pending in await asyncio.to_thread(self.heads.unpublished):
            await self._publish(producer, pending)  # left over by a worker that stopped midway
            done += 1
        head = await asyncio.to_thread(self.next_head)
        if head is not None:
            await self._publish(producer, head)
            done += 1
        return done

    def next_head(self) -> PublishedHead | None:
        """Sign and record the head of the log as it is now, if it grew; None otherwise."""
        store = self.audit()
        size = store.count()
        latest = self.heads.latest()
        if size == 0 or (latest is not None and latest.tree_size >= size):
            return None
        size = store.head()[0]  # the sink may have appended since count()
        earlier_heads = [e for e in self.heads.recent_published(self.proofs) if e.tree_size < size]
        TileLog(store).integrate(size)  # each append integrates its tiles; this catches up a gap
        tree = tiled(store, size)
        root = tree.root()
        proofs = []
        for earlier in earlier_heads:
            old_root = tree.root(0, earlier.tree_size)
            if old_root.hex() != earlier.root_hash:
                # The log under the hub changed: say so here; the agencies will see it too.
                log.critical(
                    "the audit log's first %d records no longer have the root published "
                    "earlier: the log was altered",
                    earlier.tree_size,
                )
            proofs.append(
                {
                    "old_size": earlier.tree_size,
                    "old_root": old_root.hex(),
                    "path": [p.hex() for p in tree.consistency(earlier.tree_size)],
                }
            )
        now = self.clock()
        payload = {
            "origin": origin_of(store.suite),
            "tree_size": size,
            "root_hash": root.hex(),
            "checkpoint": signed_checkpoint(origin_of(store.suite), size, root, self.key()),
            "proofs": proofs,
            "published_at": to_json(now),
        }
        head = PublishedHead(size, root.hex(), payload, now, None)
        lease = self.lease() if self.lease is not None else None
        if self.lease is not None and lease is None:
            return None  # the lease ran out while the tree was built: its new holder signs
        try:
            self.heads.record(head, lease)
        except LeaseLost:
            log.warning("tree head %d not recorded: another process took the job over", size)
            return None
        return head

    async def _publish(self, producer: Any, head: PublishedHead) -> None:
        record = from_json(self.schema.raw, head.payload)
        directory = self.directory()
        pending = []
        for address in directory.addresses():
            if address == OPERATORS:
                continue
            queued = await queue_from_operators(
                producer,
                self.registry,
                directory,
                self.ensure_inbox,
                family=TREE_HEAD,
                schema=self.schema,
                payload=record,
                recipient=address,
                key=self.key(),
                message_id=message_id(head.tree_size),
                record_key=RECORD_KEY,
            )
            if queued is not None:
                pending.append(queued[1])
        await asyncio.gather(*pending)
        await asyncio.to_thread(self.heads.mark_published, head.tree_size, self.clock())
        log.info(
            "tree head %d (%s…) sent to %d connectors",
            head.tree_size,
            head.root_hash[:16],
            len(pending),
        )
