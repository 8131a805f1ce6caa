"""Receiving: reading one's inbox, verified end to end, and processing it as a consumer group.

The checks are :func:`connectors.messages.open_record`'s.  A record that fails them is reported
(``on_rejected``, ``hub_connector_rejected_total``) and stepped past: it must not block the
inbox.  Tree heads of the audit log are the connector's own business (``connectors.witness``),
never handed to the caller's handler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from prometheus_client import Counter

from connectors.dedup import HandledIds
from connectors.documents import fetch_documents
from connectors.inbox_reading import at_end, partitions
from connectors.messages import (
    InboxMessage,
    RefusedPayload,
    RejectedRecord,
    VerificationError,
    open_record,
)
from connectors.witness import VOUCHED, TreeHeadMismatch, TreeHeadWitness
from hub.audit.cosignatures import cosign, note_body, record_of
from hub.core.text import shown
from hub.routing.freshness import Freshness
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.e2e import EncryptionKey
from hub.trust.keys import SigningKey
from hub.wire.documents import DocumentError
from hub.wire.families import FAMILIES
from hub.wire.families.tree_head import NAME as TREE_HEAD
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import COSIGNATURES, connector_group, inbox_topic

if TYPE_CHECKING:
    from hub.runtime.membership import GroupMembership

log = logging.getLogger("connectors")


COSIGNED = Counter(
    "hub_connector_cosignatures_total", "Tree heads this connector cosigned and sent to the hub"
)

REJECTED = Counter(
    "hub_connector_rejected_total",
    "Inbox records that failed the connector's checks (skipped, never handled)",
    ["reason"],
)


class Receiving:
    address: Address
    bootstrap: str
    registry: SchemaRegistry
    directory: Callable[[], Directory]
    key: SigningKey | None
    handled: HandledIds | None
    witness: TreeHeadWitness | None
    security: dict[str, Any]
    freshness: Freshness | None
    decryption_keys: list[EncryptionKey]
    rejected: int
    on_rejected: Callable[[RejectedRecord], None] | None
    documents_dir: Path | None
    _consumer_conf: dict[str, Any]
    #: Answering.receipt and Answering.refuse, with the Connector they are mixed into.
    receipt: Callable[..., str]
    refuse: Callable[..., str]
    #: The Connector's Kafka producer (cosignatures go out on it).
    producer: Any
    follow_directory: Callable[[], None]

    def open_message(self, record: Any) -> InboxMessage:
        """Verify and decode one inbox record; raises VerificationError."""
        return open_record(
            self.registry,
            self.directory(),
            record,
            me=self.address,
            freshness=self.freshness,
            decryption_keys=self.decryption_keys,
        )

    def messages(
        self,
        *,
        follow: bool = False,
        idle_timeout_s: float = 3.0,
        max_wait_s: float | None = None,
        save_documents: Path | None = None,
    ) -> Iterator[InboxMessage]:
        """Every message in the inbox from the beginning, without consuming them.

        Unless ``follow``, stops at the end of the inbox: every partition read up to the high
        watermark its last fetch response carried (not ListOffsets, which the embedded broker
        answers wrongly), or after ``idle_timeout_s`` without a record, whichever comes first.
        With ``save_documents``, each message's documents are read, checked and saved in a
        folder of that name per message id; without, only their descriptors are shown.
        """
        consumer = self._consumer(group=False)
        topic = inbox_topic(self.address.agency, self.address.region)
        try:
            parts = partitions(consumer, topic)
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            seen: set[str] = set()
            for msg in self._poll_loop(consumer, seen, follow, idle_timeout_s, max_wait_s, None):
                taken = self._with_documents(msg, save_documents, None)
                if taken is not None:
                    yield taken
        finally:
            consumer.close()

    def consume(
        self,
        handler: Callable[[InboxMessage], object],
        *,
        follow: bool = True,
        idle_timeout_s: float = 5.0,
        max_messages: int | None = None,
        auto_receipt: bool = True,
        stop: threading.Event | None = None,
        membership: GroupMembership | None = None,
    ) -> int:
        """Process the inbox as this connector's consumer group; returns how many were handled.

        Commits each record's offset after its handler returned; a handler exception propagates
        and leaves the record uncommitted, so it is delivered again.  With ``auto_receipt`` (and
        a signing key) an original the handler took is signed for before the commit.  A caller
        that holds its instance's lock (a gateway, an outbox relay) passes ``membership``: the
        member a killed predecessor left is removed first, so a restart rejoins at once.
        """
        if follow:
            self.follow_directory()
        topics = [inbox_topic(self.address.agency, self.address.region)]
        if membership is not None:
            import asyncio

            from hub.runtime.membership import subscribe_remembering

            asyncio.run(membership.evict_predecessor())
            consumer = self._consumer(group=True)
            subscribe_remembering(consumer, topics, membership)
        else:
            consumer = self._consumer(group=True)
            consumer.subscribe(topics)
        handled = 0
        try:
            loop = self._poll_loop(consumer, None, follow, idle_timeout_s, None, consumer, stop)
            for msg in loop:
                key = (msg.message_id, str(msg.envelope.sender), msg.envelope.content_digest())
                if msg.family == TREE_HEAD:
                    self._witness(msg)  # the connector's own business, not the handler's
                elif self.handled is not None and self.handled.seen(*key):
                    log.info("skipping %s: already handled", msg.message_id)
                else:
                    # Documents are read only for a message about to be handled, never again
                    # for one handled before a restart.
                    taken = self._with_documents(msg, self.documents_dir, consumer)
                    if taken is None:
                        continue  # refused, and committed past by _reject
                    msg = taken
                    handler(msg)
                    if auto_receipt and self._wants_receipt(msg):
                        self.receipt(msg)
                    if self.handled is not None:
                        self.handled.remember(*key)
                    handled += 1
                tp = TopicPartition(msg.topic, msg.partition)
                consumer.commit({tp: OffsetAndMetadata(msg.offset + 1, "", -1)})
                if max_messages is not None and handled >= max_messages:
                    break
        finally:
            consumer.close()  # leaves the group: nothing for a successor to remove
            if membership is not None:
                membership.forget()
        return handled

    def fetch_documents(self, msg: InboxMessage, documents_dir: Path) -> InboxMessage:
        """``msg`` with its documents read from this connector's documents topic, checked against
        the signed manifest and saved under ``documents_dir/<message id>``; raises
        VerificationError when one does not check out (the hub delivered something other than
        what was signed for, which its own checks should have prevented)."""
        folder = documents_dir / msg.message_id
        try:
            saved = fetch_documents(
                lambda: self._consumer(group=False, documents=True),
                self.registry,
                msg.envelope,
                msg.chunk_places,
                folder,
                self.decryption_keys,
            )
        except DocumentError as exc:
            raise VerificationError(f"{exc.reason}: {exc}") from exc
        log.info("saved %d document(s) of %s", len(saved), msg.message_id)
        return replace(msg, documents=saved)

    def _with_documents(
        self, msg: InboxMessage, folder: Path | None, committer: KafkaConsumer | None
    ) -> InboxMessage | None:
        """``msg`` with its documents saved in ``folder`` (if one is given), or None when they do
        not check out (reported and, when consuming, committed past like any record that fails
        the checks)."""
        if not msg.documents or folder is None:
            return msg
        try:
            return self.fetch_documents(msg, folder)
        except VerificationError as exc:
            self._reject(msg, exc, committer)
            return None

    def _witness(self, msg: InboxMessage) -> None:
        if self.witness is None:
            return
        try:
            verdict = self.witness.observe(msg, self.directory())
            if verdict.kind in VOUCHED and self.key is not None:
                self._cosign(verdict.head.tree_size, verdict.head.checkpoint, self.key)
        except TreeHeadMismatch as exc:
            self.rejected += 1
            REJECTED.labels("tree_head_inconsistent").inc()
            log.critical("audit log tree head %s refused: %s", msg.message_id, exc)
            if self.on_rejected is not None:
                where = (msg.topic, msg.partition, msg.offset, str(exc))
                self.on_rejected(RejectedRecord(*where))

    def _cosign(self, tree_size: int, checkpoint: str, key: SigningKey) -> None:
        """Vouch for a head checked against one already trusted (C2SP tlog-cosignature): the
        hub keeps it and publishes the head with it.  Not awaited: a lost cosignature costs one
        head's count, and the next head is cosigned again."""
        line = cosign(note_body(checkpoint), key, int(time.time()))
        value = record_of(str(self.address), tree_size, line)
        future = self.producer.send(COSIGNATURES.name, key=str(self.address).encode(), value=value)
        future.add_errback(lambda exc: log.warning("cosignature of head %d not sent: %s",
                                                   tree_size, type(exc).__name__))  # fmt: skip
        COSIGNED.inc()

    def _wants_receipt(self, msg: InboxMessage) -> bool:
        fam = FAMILIES.get(msg.family)
        if fam is None or fam.is_reply or fam.hub_only:
            return False  # answers and SLA events are not signed for
        if self.key is None:
            log.warning("not signing for %s: %s has no signing key", msg.message_id, self.address)
            return False
        return True

    def _poll_loop(
        self,
        consumer: KafkaConsumer,
        seen: set[str] | None,
        follow: bool,
        idle_timeout_s: float,
        max_wait_s: float | None,
        committer: KafkaConsumer | None,
        stop: threading.Event | None = None,
    ) -> Iterator[InboxMessage]:
        started = last = time.monotonic()
        while True:
            batch = consumer.poll(timeout_ms=200)
            now = time.monotonic()
            if committer is not None and not consumer.assignment():
                last = now  # joining the group takes seconds; idle time starts once assigned
            for records in batch.values():
                for record in records:
                    last = now
                    try:
                        msg = self.open_message(record)
                    except VerificationError as exc:
                        self._reject(record, exc, committer)
                        continue
                    if seen is not None:
                        if msg.message_id in seen:
                            continue
                        seen.add(msg.message_id)
                    yield msg
            if max_wait_s is not None and now - started > max_wait_s:
                return
            if stop is not None and stop.is_set():
                return
            if not follow and (now - last > idle_timeout_s or at_end(consumer)):
                return

    def _reject(self, record: Any, exc: Exception, committer: KafkaConsumer | None) -> None:
        """Report a record that failed the checks and step past it: it must not block the inbox."""
        self.rejected += 1
        reason = shown(str(exc), 300)
        REJECTED.labels(reason.split(":")[0][:40]).inc()
        where = RejectedRecord(record.topic, record.partition, record.offset, reason)
        log.error("inbox record %s/%d@%d rejected: %s", *where.to_tuple())
        if self.on_rejected is not None:
            self.on_rejected(where)
        if committer is not None and isinstance(exc, RefusedPayload) and self.key is not None:
            self.refuse(exc.original, str(exc))  # the sender and the ledger learn why
        if committer is not None:  # nothing will ever make it valid
            tp = TopicPartition(record.topic, record.partition)
            committer.commit({tp: OffsetAndMetadata(record.offset + 1, "", -1)})

    def _consumer(self, *, group: bool, documents: bool = False) -> KafkaConsumer:
        # A documents reader fetches one chunk (at most 512 KiB and its framing) at a time per
        # partition, so its memory does not grow with a document.
        limits = {"max_partition_fetch_bytes": 1 << 20, "fetch_max_bytes": 2 << 20}
        return KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=connector_group(self.address.agency, self.address.region) if group else None,
            client_id=f"connector-{self.address}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **(limits if documents else {}),
            **self._consumer_conf,
            **self.security,
        )
