"""SQL engine helpers shared by the hub's stores: one metadata, engines, idempotent inserts.

SQLite (the default, in the hub's home) and PostgreSQL (production) are both supported and
tested; every write the hub makes is an insert that is a no-op when its key exists.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite

from hub.core.text import masked_url

#: The hub store's tables (deliveries, dead letters, the ledger) all live in this metadata.
metadata = MetaData()


#: libpq's network bounds.  Without them a statement on a connection whose link went down
#: waited for TCP's retransmissions to back off and come round again: measured in the hosts
#: drill, a 30 s cut from the store held the router's batch 23 s past the heal.  With them the
#: statement fails within tcp_user_timeout, the batch is tried again on a new connection, and
#: routing resumes within a second or two of the heal.
POSTGRES_CONNECT: dict[str, Any] = {
    "connect_timeout": 10,
    "tcp_user_timeout": 10_000,  # ms: sent data unacknowledged this long fails the connection
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}


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
    bounds = POSTGRES_CONNECT if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args=bounds)


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


def add_missing_indexes(engine: Engine, meta: MetaData) -> None:
    """Create the indexes a newer hub declares on tables an older one created."""
    for table in meta.sorted_tables:
        for index in table.indexes:
            index.create(engine, checkfirst=True)


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert unless the primary key exists; True when a row was written.

    Asks for the key back rather than trusting ``rowcount``, which psycopg reports as -1 for
    ``INSERT … ON CONFLICT DO NOTHING`` under SQLAlchemy 2.1.
    """
    stmt = _insert_stmt(conn, table).values(values)
    key = next(iter(table.primary_key.columns))
    return conn.execute(stmt.returning(key)).first() is not None


def _insert_stmt(conn: Connection, table: Table) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"store does not support {dialect}")  # pragma: no cover


def insert_many_ignore(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, returning: Any = None
) -> set[Any]:
    """Insert every row whose primary key is new, in one executemany (a batch's rows).

    With ``returning`` (a column), the values of that column in the rows actually inserted.
    """
    if not rows:
        return set()
    stmt = _insert_stmt(conn, table)
    if returning is None:
        conn.execute(stmt, list(rows))
        return set()
    return set(conn.execute(stmt.returning(returning), list(rows)).scalars())


@contextmanager
def transaction(engine: Engine, conn: Connection | None = None) -> Iterator[Connection]:
    """``conn`` when the caller already holds a transaction (a batch), else a new one."""
    if conn is not None:
        yield conn
        return
    with engine.begin() as own:
        yield own
