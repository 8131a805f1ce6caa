"""The Python connector client: sign and send, read and verify one's inbox.

    conn = Connector.from_settings(load_settings(), "MIB@350582")
    message_id = conn.send("clue_transfer", "PSB@350582", payload)

    for msg in Connector.from_settings(settings, "PSB@350582").messages():
        print(msg.family, msg.payload)

:meth:`Connector.consume` is the processing loop: each message is verified against the agency
directory (the sender's own signature, end to end), decoded, handed to the handler, and its
offset committed only after the handler returned.  Delivery is at-least-once; ids already
handled are skipped, so a handler sees each message once unless it fails.  Once a handler has
taken an original (a clue, a referral…), ``consume`` signs for it (签收) automatically.

The lifecycle of a received hand-off is answered with :meth:`Connector.receipt`,
:meth:`~Connector.accept`, :meth:`~Connector.return_`, :meth:`~Connector.feedback` and
:meth:`~Connector.close_case`; each goes back to the original's sender.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from prometheus_client import Counter

from connectors.answers import Answering
from connectors.dedup import HandledIds
from connectors.inbox_reading import at_end, partitions
from connectors.messages import (
    Answerable,
    InboxMessage,
    OriginalRef,
    RefusedPayload,
    RejectedRecord,
    VerificationError,
    encryption_target,
    open_record,
)
from connectors.witness import TreeHeadMismatch, TreeHeadWitness
from hub.core.config import Settings
from hub.core.text import shown
from hub.routing.freshness import Freshness
from hub.runtime.state import resolve_bootstrap
from hub.trust.address import Address
from hub.trust.directory import (
    Directory,
    directory_file,
    load_encryption_keys,
    load_signing_key,
)
from hub.trust.e2e import EncryptionKey
from hub.trust.keys import SigningKey
from hub.wire.envelope import seal
from hub.wire.families import FAMILIES
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import INGRESS, connector_group, inbox_topic

TREE_HEAD = "tree_head"

log = logging.getLogger("connectors")


__all__ = [
    "Answerable",
    "Connector",
    "InboxMessage",
    "OriginalRef",
    "RejectedRecord",
    "VerificationError",
]

REJECTED = Counter(
    "hub_connector_rejected_total",
    "Inbox records that failed the connector's checks (skipped, never handled)",
    ["reason"],
)


class Connector(Answering):
    def __init__(
        self,
        address: Address | str,
        *,
        bootstrap: str,
        registry: SchemaRegistry,
        directory: Callable[[], Directory],
        key: SigningKey | None = None,
        handled: HandledIds | None = None,
        security: dict[str, Any] | None = None,
        session_timeout_ms: int = 6000,
        heartbeat_interval_ms: int = 1000,
        fetch_max_wait_ms: int = 100,
        freshness: Freshness | None = None,
        decryption_keys: Sequence[EncryptionKey] = (),
        witness: TreeHeadWitness | None = None,
    ) -> None:
        self.address = Address.parse(address) if isinstance(address, str) else address
        #: This connector's private encryption keys, newest first (retired ones included).
        self.decryption_keys = list(decryption_keys)
        self.bootstrap = bootstrap
        self.registry = registry
        self.directory = directory
        self.key = key
        self.handled = handled
        #: Keeps the audit log's last tree head and checks each new one (connectors.witness).
        self.witness = witness
        self.security = security or {}
        self._consumer_conf = {
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "fetch_max_wait_ms": fetch_max_wait_ms,
        }
        self._producer: KafkaProducer | None = None
        self.rejected = 0
        self.freshness = freshness
        #: Told of every inbox record that fails the checks (it is skipped, never handled).
        self.on_rejected: Callable[[RejectedRecord], None] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        address: Address | str,
        *,
        bootstrap: str | None = None,
        signing: bool = True,
    ) -> Connector:
        address = Address.parse(address) if isinstance(address, str) else address
        directory = directory_file(settings)
        memory = settings.home / "connectors" / f"{address}.handled.db"
        key = load_signing_key(settings.keys_dir, address, directory.current) if signing else None
        return cls(
            address,
            bootstrap=bootstrap or resolve_bootstrap(settings),
            registry=SchemaRegistry.load(settings.schemas_path),
            directory=lambda: directory.current,
            key=key,
            handled=HandledIds(memory),
            witness=TreeHeadWitness(memory),
            security=settings.kafka_python_security(),
            session_timeout_ms=int(settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval_s * 1000),
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            freshness=Freshness(
                timedelta(seconds=settings.freshness_max_age_s),
                timedelta(seconds=settings.freshness_max_ahead_s),
            ),
            decryption_keys=load_encryption_keys(settings.keys_dir, address, directory.current),
        )

    # -- sending -------------------------------------------------------------------------------
    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all",
                retries=5,
                client_id=f"connector-{self.address}",
                **self.security,
            )
        return self._producer

    def send(
        self,
        family: str,
        recipient: Address | str,
        payload: dict[str, Any],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        schema_version: int | None = None,
        message_id: str | None = None,
        timeout_s: float = 30.0,
        encrypt: bool | None = None,
    ) -> str:
        """Sign and publish one message; returns its id once the broker acknowledged it.

        ``encrypt`` (default: when the family requires it) encrypts the payload end to end to the
        connector that will receive it, found in the directory as the router will find it.
        Safe to call again with the same ``message_id`` after an error: the hub delivers an id
        once.
        """
        if self.key is None:
            raise RuntimeError(f"connector {self.address} was opened without a signing key")
        fam = FAMILIES.get(family)
        if fam is None:
            raise ValueError(f"unknown family {family!r}; known: {', '.join(sorted(FAMILIES))}")
        schema = (
            self.registry.version(fam.schema_stem, schema_version)
            if schema_version
            else self.registry.latest(fam.schema_stem)
        )
        recipient = Address.parse(recipient) if isinstance(recipient, str) else recipient
        if encrypt is None:
            encrypt = fam.encryption_required and not fam.is_reply
        env, raw = seal(
            self.registry,
            family=family,
            payload_schema=schema,
            payload=payload,
            sender=self.address,
            recipient=recipient,
            key=self.key,
            correlation_id=correlation_id,
            causation_id=causation_id,
            message_id=message_id,
            encrypt_to=encryption_target(self.directory(), recipient) if encrypt else None,
        )
        self.send_raw(raw, key=env.conversation_id.encode(), timeout_s=timeout_s)
        log.info("sent %s %s %s → %s", family, env.message_id, self.address, recipient)
        return env.message_id

    def send_raw(
        self,
        raw: bytes,
        *,
        key: bytes | None = None,
        headers: list | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        """Publish bytes to the hub's ingress as they are (used for replays and tests)."""
        self.producer.send(INGRESS.name, value=raw, key=key, headers=headers or []).get(timeout_s)

    # -- receiving -----------------------------------------------------------------------------
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
        self, *, follow: bool = False, idle_timeout_s: float = 3.0, max_wait_s: float | None = None
    ) -> Iterator[InboxMessage]:
        """Every message in the inbox from the beginning, without consuming them.

        Unless ``follow``, stops at the end of the inbox: every partition read up to the high
        watermark its last fetch response carried (not ListOffsets, which the embedded broker
        answers wrongly), or after ``idle_timeout_s`` without a record, whichever comes first.
        """
        consumer = self._consumer(group=False)
        topic = inbox_topic(self.address.agency, self.address.region)
        try:
            parts = partitions(consumer, topic)
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            seen: set[str] = set()
            yield from self._poll_loop(consumer, seen, follow, idle_timeout_s, max_wait_s, None)
        finally:
            consumer.close()

    def consume(
        self,
        handler: Callable[[InboxMessage], None],
        *,
        follow: bool = True,
        idle_timeout_s: float = 5.0,
        max_messages: int | None = None,
        auto_receipt: bool = True,
    ) -> int:
        """Process the inbox as this connector's consumer group; returns how many were handled.

        Commits each record's offset after its handler returned; a handler exception propagates
        and leaves the record uncommitted, so it is delivered again.  With ``auto_receipt`` (and
        a signing key) an original the handler took is signed for before the commit.
        """
        consumer = self._consumer(group=True)
        consumer.subscribe([inbox_topic(self.address.agency, self.address.region)])
        handled = 0
        try:
            for msg in self._poll_loop(consumer, None, follow, idle_timeout_s, None, consumer):
                key = (msg.message_id, str(msg.envelope.sender), msg.envelope.content_digest())
                if msg.family == TREE_HEAD:
                    self._witness(msg)  # the connector's own business, not the handler's
                elif self.handled is not None and self.handled.seen(*key):
                    log.info("skipping %s: already handled", msg.message_id)
                else:
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
            consumer.close()
        return handled

    def _witness(self, msg: InboxMessage) -> None:
        if self.witness is None:
            return
        try:
            self.witness.observe(msg, self.directory())
        except TreeHeadMismatch as exc:
            self.rejected += 1
            REJECTED.labels("tree_head_inconsistent").inc()
            log.critical("audit log tree head %s refused: %s", msg.message_id, exc)
            if self.on_rejected is not None:
                where = (msg.topic, msg.partition, msg.offset, str(exc))
                self.on_rejected(RejectedRecord(*where))

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

    def _consumer(self, *, group: bool) -> KafkaConsumer:
        return KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=connector_group(self.address.agency, self.address.region) if group else None,
            client_id=f"connector-{self.address}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._consumer_conf,
            **self.security,
        )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None
        if self.handled is not None:
            self.handled.close()
        if self.witness is not None:
            self.witness.close()

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
