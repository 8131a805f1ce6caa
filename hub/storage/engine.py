"""SQL engine helpers shared by the hub's stores: one metadata, engines, idempotent inserts.

SQLite (the default, in the hub's home) and PostgreSQL (production) are both supported and
tested; every write the hub makes is an insert that is a no-op when its key exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite

from hub.core.text import masked_url

#: The hub store's tables (deliveries, dead letters, the ledger) all live in this metadata.
metadata = MetaData()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # hide_parameters: an error message must not carry row values (free text, names) into
        # logs or a dead letter's detail.
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the CLI read while the router writes; NORMAL sync is durable in WAL mode
            # up to the last checkpointed transaction, which is what at-least-once needs.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def safe_url(url: str) -> str:
    """A database URL fit for logs: the password masked."""
    return masked_url(url)


def add_missing_columns(engine: Engine, meta: MetaData) -> list[str]:
    """Add nullable columns a newer hub declares to tables an older one created.

    The hub store is created with ``create_all``, which never alters an existing table; a column
    added later (always nullable, so old rows stay valid) is added here.  Returns what was added.
    """
    added: list[str] = []
    found = inspect(engine)
    for table in meta.sorted_tables:
        if not found.has_table(table.name):
            continue
        present = {c["name"] for c in found.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            with engine.begin() as conn:
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
            added.append(f"{table.name}.{column.name}")
    return added


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert unless the primary key exists; True when a row was written.

    Asks for the key back rather than trusting ``rowcount``, which psycopg reports as -1 for
    ``INSERT … ON CONFLICT DO NOTHING`` under SQLAlchemy 2.1.
    """
    dialect = conn.dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - other databases are not supported yet
        raise NotImplementedError(f"store does not support {dialect}")
    key = next(iter(table.primary_key.columns))
    return conn.execute(stmt.returning(key)).first() is not None
