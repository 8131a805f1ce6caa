"""The audit store's schema: two append-only tables, and their Alembic migrations.

``audit_log`` holds the hash-chained events, ``audit_checkpoints`` the signed heads.  The schema
is Alembic-managed (``hub/audit/migrations``, own version table) and brought up to date
whenever a store is opened; database triggers (in the migration) refuse UPDATE and DELETE.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(80), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("message_id", String(64)),
    Column("conversation_id", String(64)),
    Column("family", String(64)),
    Column("sender", String(32)),
    Column("recipient", String(32)),
    Column("routed_to", String(32)),
    Column("status", String(24)),
    Column("signed", Text),
    Column("facts", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_log_message_id", audit_log.c.message_id)
Index("ix_audit_log_conversation_id", audit_log.c.conversation_id)
Index("ix_audit_log_occurred_at", audit_log.c.occurred_at)
Index("ix_audit_log_kind", audit_log.c.kind)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", String(64), nullable=False),
    Column("signed_at", String(32), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(192), nullable=False),  # hex: Ed25519 128, SM2 DER up to 144
)

#: The log's own settings, written once: ``hash`` names the suite (hub.trust.suites) whose hash
#: chains the records and builds the tree, fixed when the first record is appended.
audit_meta = Table(
    "audit_meta",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", String(64), nullable=False),
)

#: An RFC 3161 token per signed checkpoint (hub.audit.timestamps), keyed by the checkpoint's seq.
audit_timestamps = Table(
    "audit_timestamps",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("token", LargeBinary, nullable=False),
    Column("stamped_at", DateTime(timezone=True), nullable=False),
)

#: The months archived and pruned (``hub audit prune``): what each archive held, and its
#: manifest's digest; a record may be deleted only inside a range listed here (migration 0004).
audit_archives = Table(
    "audit_archives",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("root", String(64), nullable=False),
    Column("manifest_digest", String(64), nullable=False),
    Column("pruned_at", DateTime(timezone=True), nullable=False),
)

#: The chain hash of every pruned record: the tree's leaves stay whole, so the live log still
#: proves consistency from any head and the chain continues from the last pruned hash.
audit_pruned = Table(
    "audit_pruned",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
)


#: The tree's full tiles (hub.audit.tiles): 256 hashes of one level and their root.  Derived from
#: the records, written once each; a wrong row only makes a proof fail its check.
audit_tiles = Table(
    "audit_tiles",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
    Column("root", LargeBinary, nullable=False),
)


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "audit_schema_version"


def default_audit_url(home: Path) -> str:
    return f"sqlite:///{(home / 'audit.db').resolve()}"


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the audit schema to ``revision`` (Alembic upgrade; downgrade if it is older)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        current = _current_revision(conn)
        if revision == "base" or (revision != "head" and current and current > revision):
            command.downgrade(cfg, revision)
        else:
            command.upgrade(cfg, revision)


def _current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(
        conn, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()


def schema_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return _current_revision(conn)
