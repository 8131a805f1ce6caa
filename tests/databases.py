"""Throw-away databases for store tests: a SQLite file, and a PostgreSQL database of its own.

PostgreSQL must be reachable at 127.0.0.1:5432 (user postgres, trust auth; `./dev test` starts
the local cluster).  If it is not, the PostgreSQL tests fail with that message: a skipped
database test would prove nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

PG_ADMIN_URL = os.environ.get(
    "HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get(
    "HUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql?charset=utf8mb4"
)


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        raise RuntimeError(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc.orig}); "
            "start it (./dev test does) or set HUB_TEST_PG_URL"
        ) from exc
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def mariadb_database() -> Iterator[str]:
    """A MariaDB database of its own (root, empty password, at 127.0.0.1:3306)."""
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    except OperationalError as exc:
        admin.dispose()
        raise RuntimeError(
            f"MariaDB is not reachable at {MARIADB_ADMIN_URL} ({exc.orig}); "
            "start it (./dev test does) or set HUB_TEST_MARIADB_URL"
        ) from exc
    try:
        base, _, query = MARIADB_ADMIN_URL.partition("?")
        yield base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@contextmanager
def agency_database(kind: str) -> Iterator[str]:
    """An agency's own database: PostgreSQL or MariaDB."""
    manager = postgres_database() if kind == "postgresql" else mariadb_database()
    with manager as url:
        yield url


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        with postgres_database() as url:
            yield url
