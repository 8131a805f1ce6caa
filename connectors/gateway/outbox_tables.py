"""The agency database's tables the gateway uses (``hub outbox init`` makes them): the outbox
its application writes, the relay's record of what it sealed and sent, the inbox it is given.
``hub_outbox_documents`` is declared beside its reader (gateway.outbox_documents)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

meta = MetaData()
outbox = Table(
    "hub_outbox",
    meta,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("aggregatetype", String(255), nullable=False),
    Column("aggregateid", String(255), nullable=False),
    Column("type", String(255), nullable=False),
    Column("payload", Text, nullable=False),  # the family's payload as JSON
    Column("family", String(64), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("correlation_id", String(64)),
    Column("created_at", DateTime(timezone=True)),
)
sent = Table(
    "hub_outbox_sent",
    meta,
    Column("id", String(64), primary_key=True),  # hub_outbox.id
    Column("message_id", String(64)),
    Column("state", String(16), nullable=False),  # sealed | sent | refused
    Column("raw", LargeBinary().with_variant(LargeBinary(2**24), "mysql")),
    Column("problems", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
inbox = Table(
    "hub_inbox",
    meta,
    Column("message_id", String(64), primary_key=True),
    Column("sender", String(32), primary_key=True),
    Column("family", String(64), nullable=False),
    Column("correlation_id", String(64)),
    Column("payload", Text, nullable=False),  # JSON, as `hub inbox --json` prints it
    Column("envelope", Text, nullable=False),  # the rest of that JSON: ids, parties, times
    Column("received_at", DateTime(timezone=True), nullable=False),
)
