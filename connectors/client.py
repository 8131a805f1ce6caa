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
import os
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kafka import KafkaProducer

from connectors.answers import Answering
from connectors.dedup import HandledIds
from connectors.documents import DocumentFile, ReceivedDocument, publish_documents
from connectors.messages import (
    Answerable,
    InboxMessage,
    OriginalRef,
    RejectedRecord,
    VerificationError,
    encryption_target,
)
from connectors.receiving import Receiving
from connectors.witness import TreeHeadWitness
from hub.core.config import Settings
from hub.routing.freshness import Freshness
from hub.routing.policy import Policy, load_policy
from hub.runtime.directory_topic import DirectoryFollower
from hub.runtime.state import read_state, resolve_bootstrap
from hub.trust import e2e
from hub.trust.address import Address
from hub.trust.directory import Directory, load_encryption_keys, load_signing_key
from hub.trust.directory_file import DirectoryFile, directory_file
from hub.trust.e2e import EncryptionKey
from hub.trust.keys import SigningKey
from hub.trust.suites import INTL
from hub.wire.documents import DocumentRef, Sealing
from hub.wire.envelope import Envelope, seal
from hub.wire.families import FAMILIES, Family
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import INGRESS, connector_group

if TYPE_CHECKING:
    from hub.runtime.membership import GroupMembership

log = logging.getLogger("connectors")


__all__ = [
    "Answerable",
    "Connector",
    "DocumentFile",
    "InboxMessage",
    "OriginalRef",
    "ReceivedDocument",
    "RejectedRecord",
    "VerificationError",
]


class Connector(Answering, Receiving):
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
        documents_dir: Path | None = None,
        policy: Policy | None = None,
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
        #: Where ``consume`` saves the documents of the messages it takes (one folder each).
        self.documents_dir = documents_dir
        self.policy = policy
        self._consumer_conf = {
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "fetch_max_wait_ms": fetch_max_wait_ms,
        }
        self._producer: KafkaProducer | None = None
        #: The directory file behind ``directory`` (from_settings), and its topic follower.
        self.directory_file: DirectoryFile | None = None
        self._follower: DirectoryFollower | None = None
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
        connector = cls(
            address,
            bootstrap=bootstrap or resolve_bootstrap(settings),
            registry=SchemaRegistry.load(settings.schemas_path),
            directory=lambda: directory.current,
            key=key,
            handled=HandledIds(memory),
            witness=TreeHeadWitness(memory, tlog_url(settings)),
            documents_dir=settings.home / "connectors" / f"{address}.documents",
            security=settings.kafka_python_security(),
            session_timeout_ms=int(settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval_s * 1000),
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            freshness=Freshness(
                timedelta(seconds=settings.freshness_max_age_s),
                timedelta(seconds=settings.freshness_max_ahead_s),
            ),
            decryption_keys=load_encryption_keys(settings.keys_dir, address, directory.current),
            policy=load_policy(settings.policy_path),
        )
        connector.directory_file = directory
        return connector

    def follow_directory(self) -> None:
        """Take newer signed directory versions from ``hub.directory`` as they are published
        (``hub directory publish``), in a thread, until :meth:`close`.  Long-running uses call
        this (``consume`` with ``follow``, the gateway); a one-off send reads the file."""
        if self._follower is None and self.directory_file is not None:
            self._follower = DirectoryFollower(self.directory_file, self.bootstrap,
                                               self.security).start()  # fmt: skip

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
        documents: Sequence[str | os.PathLike[str] | DocumentFile] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> str:
        """Sign and publish one message; returns its id once the broker acknowledged it.

        ``encrypt`` (default: when the family requires it) encrypts the payload end to end to the
        connector that will receive it, found in the directory as the router will find it.
        Safe to call again with the same ``message_id`` after an error: the hub delivers an id
        once.

        ``documents`` (paths, or :class:`~connectors.documents.DocumentFile` to give a name and
        media type) travel with the message as chunks ahead of it, sealed to the recipient;
        ``progress(bytes_sent, bytes_total)`` is told as they go.  A repeat after an error sends
        them again under a new upload id: the hub counts only the upload the manifest names.
        """
        if documents:
            env, raw = self.publish_documents_and_seal(
                family, recipient, payload, [DocumentFile.of(d) for d in documents],
                correlation_id=correlation_id, causation_id=causation_id,
                schema_version=schema_version, message_id=message_id, timeout_s=timeout_s,
                encrypt=encrypt, progress=progress,
            )  # fmt: skip
        else:
            env, raw = self.seal_message(
                family, recipient, payload, correlation_id=correlation_id,
                causation_id=causation_id, schema_version=schema_version,
                message_id=message_id, encrypt=encrypt,
            )  # fmt: skip
        self.send_raw(raw, key=env.conversation_id.encode(), timeout_s=timeout_s)
        log.info("sent %s %s %s → %s with %d document(s)", family, env.message_id, self.address,
                 env.recipient, len(env.documents))  # fmt: skip
        return env.message_id

    def publish_documents_and_seal(
        self,
        family: str,
        recipient: Address | str,
        payload: dict[str, Any],
        files: Sequence[DocumentFile],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        schema_version: int | None = None,
        message_id: str | None = None,
        timeout_s: float = 30.0,
        encrypt: bool | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[Envelope, bytes]:
        """Publish the chunks of ``files`` (acknowledged) and return the envelope signed over
        their manifest, not yet sent: its bytes go to hub.ingress with the key
        ``env.conversation_id``, after the chunks, as :meth:`send` does."""
        fam = _family(family)
        to = Address.parse(recipient) if isinstance(recipient, str) else recipient
        message_id = message_id or str(uuid.uuid4())
        if encrypt is None:
            encrypt = fam.encryption_required and not fam.is_reply
        # Documents are sealed to the receiving connector always, whether or not the payload is
        # (a reply's payload stays readable to the hub's ledger; its processing report does not).
        key_id, public = encryption_target(self.directory(), to)
        version = schema_version or self.registry.latest(fam.schema_stem).version
        info = e2e.context(
            message_id=message_id, family=family, schema_version=version,
            sender=str(self.address), recipient=str(to), key_id=key_id,
        )  # fmt: skip
        sealing = Sealing(public, info)
        record_key = (correlation_id or message_id).encode()
        refs = publish_documents(
            self.producer, self.registry, files, message_id=message_id,
            sender=str(self.address), recipient=str(to), record_key=record_key, sealing=sealing,
            timeout_s=timeout_s, progress=progress, tree=self.key.suite if self.key else INTL,
        )  # fmt: skip
        return self.seal_message(
            family, to, payload, correlation_id=correlation_id, causation_id=causation_id,
            schema_version=schema_version, message_id=message_id, encrypt=encrypt,
            documents=refs,
        )  # fmt: skip

    def seal_message(
        self,
        family: str,
        recipient: Address | str,
        payload: dict[str, Any],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        schema_version: int | None = None,
        message_id: str | None = None,
        encrypt: bool | None = None,
        documents: tuple[DocumentRef, ...] = (),
    ) -> tuple[Envelope, bytes]:
        """The signed (and, if asked or required, encrypted) envelope and its bytes, not sent.
        Sending exactly these bytes again is a repeat the hub recognises; sealing again is not
        when the payload is encrypted (new ciphertext), so keep the bytes to retry with."""
        if self.key is None:
            raise RuntimeError(f"connector {self.address} was opened without a signing key")
        fam = _family(family)
        schema = (
            self.registry.version(fam.schema_stem, schema_version)
            if schema_version
            else self.registry.latest(fam.schema_stem)
        )
        recipient = Address.parse(recipient) if isinstance(recipient, str) else recipient
        if encrypt is None:
            encrypt = fam.encryption_required and not fam.is_reply
        return seal(
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
            documents=documents,
        )

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

    def close(self) -> None:
        if self._follower is not None:
            self._follower.stop()
            self._follower = None
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


def tlog_url(settings: Settings) -> str | None:
    """Where the hub serves its log's tiles: ``tlog_url``, else a hub running from this home."""
    if settings.tlog_url:
        return settings.tlog_url
    state = read_state(settings.home / "state.json")
    return f"{state.web_url.rstrip('/')}/tlog" if state is not None and state.web_url else None


def _family(name: str) -> Family:
    fam = FAMILIES.get(name)
    if fam is None:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(sorted(FAMILIES))}")
    return fam


def inbox_membership(settings: Settings, connector: Connector, instance: str) -> GroupMembership:
    """For a process that holds ``instance``'s lock (a gateway, an outbox relay): its member of
    the connector's group, removed by the next process of the instance after a crash
    (``hub.runtime.membership``), so a restart reads its inbox again at once."""
    from hub.runtime.membership import GroupMembership

    group = connector_group(connector.address.agency, connector.address.region)
    return GroupMembership(settings, connector.bootstrap, group, instance)
