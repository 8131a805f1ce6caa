"""The hub runs under a PostgreSQL role with no DDL and no TRUNCATE (ops/postgres/roles.sql).

Before: the hub's own `hub audit migrate --revision base` dropped the audit tables, and TRUNCATE
bypassed the row triggers.  Under the role the deployment notes give it, the hub still does its
work, and neither is possible.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from hub.audit.schema import migrate
from hub.audit.store import AuditStore
from hub.lifecycle.ledger import Ledger
from hub.storage.store import Store
from tests.audit.test_audit_store import events
from tests.storage.test_store import delivery, letter

ROOT = Path(__file__).resolve().parents[2]
ROLES_SQL = ROOT / "ops" / "postgres" / "roles.sql"


@pytest.fixture
def app_url(pg_server: str) -> Iterator[str]:
    """A fresh database set up by its owner, and a URL for a fresh role granted per roles.sql."""
    suffix = uuid.uuid4().hex[:8]
    role, name = f"hub_app_{suffix}", f"hub_roles_{suffix}"
    server = make_url(pg_server)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    owner_url = server.set(database=name).render_as_string(hide_password=False)
    Store(owner_url)  # the owner creates the store and migrates the audit log
    AuditStore(owner_url).close()
    lines = ROLES_SQL.read_text(encoding="utf-8").replace("{app}", role).splitlines()
    sql = "\n".join(line for line in lines if not line.strip().startswith("--"))
    owner = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        for statement in filter(str.strip, sql.split(";")):
            conn.execute(text(statement))
    owner.dispose()
    yield server.set(database=name, username=role).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
    admin.dispose()


@pytest.mark.postgres
def test_the_hub_works_under_a_role_without_ddl_or_truncate(app_url: str) -> None:
    store = Store(app_url)  # opening checks the tables, creates nothing
    assert store.record_delivery(delivery("m-1"))
    assert store.record_dead_letter(letter(b"junk", 1))
    assert (
        store.prune(
            dead_letters_before=datetime(2000, 1, 1, tzinfo=UTC),
            deliveries_before=datetime(2000, 1, 1, tzinfo=UTC),
        ).deliveries
        == 0
    )
    Ledger(store.engine).reply_applied("nothing")
    audit = AuditStore(app_url)  # at head already: no migration runs
    assert audit.append(events(3)).appended == 3
    # The tree heads and cosignatures, the board's totals, the console's accounts.
    from hub.console.auth import make_officer
    from hub.lifecycle.board import backfill_totals, board
    from hub.storage.cosignatures import CosignatureRows
    from hub.storage.officers import OfficerStore
    from hub.storage.tree_heads import TreeHeads

    assert TreeHeads(store.engine).latest() is None
    assert CosignatureRows(store.engine).latest_cosigned() is None
    now = datetime(2026, 12, 1, tzinfo=UTC)
    made = make_officer("qz-01", "a long passphrase", role="officer", scope="350500",
                        cert_sha256=None, now=now)  # fmt: skip
    OfficerStore(store.engine).add(made.officer)
    assert [o.name for o in OfficerStore(store.engine).all()] == ["qz-01"]
    backfill_totals(store.engine)
    assert board(store.engine, now) is not None


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE audit_log",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET kind = 'x'",
        "DROP TABLE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "CREATE TABLE mine (x int)",
    ],
)
def test_the_hub_role_cannot_remove_or_rewrite_history(app_url: str, statement: str) -> None:
    AuditStore(app_url).append(events(2))
    engine = create_engine(app_url)
    with (
        pytest.raises(DBAPIError, match=r"permission denied|must be owner|append-only"),
        engine.begin() as conn,
    ):
        conn.execute(text(statement))
    assert AuditStore(app_url, migrate_schema=False).count() == 2


@pytest.mark.postgres
def test_the_hub_role_cannot_migrate_the_log_away(app_url: str) -> None:
    AuditStore(app_url).append(events(1))
    with pytest.raises(DBAPIError):
        migrate(create_engine(app_url), "base")
    assert AuditStore(app_url, migrate_schema=False).count() == 1
