"""The audit store on SQLite and PostgreSQL: migrations, idempotent appends, append-only
triggers, and `hub audit verify` catching rows edited directly in the database."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

from hub.audit.chain import verify_chain
from hub.audit.events import AuditEvent
from hub.audit.schema import migrate, schema_revision
from hub.audit.store import AuditStore
from hub.cli.main import main
from hub.core.config import Settings
from hub.trust.address import Address
from hub.trust.authority import create_dev_directory, development_authority
from hub.trust.directory import load_signing_key
from hub.trust.directory_file import load_directory
from hub.trust.keys import SigningKey
from tests.databases import postgres_database

T0 = datetime(2024, 6, 18, 2, 0, tzinfo=UTC)
OPS = Address("HUB", "100000")


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        with postgres_database() as url:
            yield url


def events(n: int, start: int = 0) -> list[AuditEvent]:
    return [
        AuditEvent(
            f"submitted:{i:08d}",
            "submitted",
            T0 + timedelta(seconds=i),
            message_id=f"msg-{i}",
            conversation_id=f"msg-{i}",
            family="clue_transfer",
            sender="MIB@350582",
            recipient="PSB@350582",
            facts={"source": f"hub.ingress/0@{i}"},
        )
        for i in range(start, start + n)
    ]


def ops_key(home: Path) -> SigningKey:
    settings = Settings(home=home)
    create_dev_directory(development_authority(settings), settings.keys_dir, [str(OPS)])
    return load_signing_key(settings.keys_dir, OPS, load_directory(settings))


def verify_cli(home: Path, url: str, monkeypatch, capsys) -> tuple[int, dict]:
    monkeypatch.setenv("HUB_AUDIT_URL", url)
    capsys.readouterr()
    code = main(["--home", str(home), "audit", "verify", "--json"])
    return code, json.loads(capsys.readouterr().out)


# -- schema -------------------------------------------------------------------------------------


def test_migrations_up_down_and_match_the_model(audit_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from hub.audit.schema import VERSION_TABLE, metadata
    from hub.storage.engine import make_engine

    engine = make_engine(audit_url)
    migrate(engine)
    assert schema_revision(engine) == "0005"
    tables = set(inspect(engine).get_table_names())
    assert {"audit_log", "audit_checkpoints", "audit_meta", "audit_timestamps", "audit_archives",
            "audit_pruned", "audit_tiles"} <= tables  # fmt: skip
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = [d for d in compare_metadata(ctx, metadata) if d[0] != "remove_table"]
    if engine.dialect.name == "sqlite":
        # SQLite keeps no VARCHAR lengths, and widening one would rebuild the table without its
        # append-only triggers: migration 0002 widens the checkpoint signature on PostgreSQL.
        diff = [d for d in diff if not (isinstance(d, list) and d[0][0] == "modify_type")]
    assert diff == [], f"migrations and hub/audit/store.py disagree: {diff}"
    migrate(engine, "base")
    assert "audit_log" not in inspect(engine).get_table_names()
    migrate(engine)  # and back up
    assert schema_revision(engine) == "0005"
    engine.dispose()


def test_cli_migrate(tmp_path: Path, monkeypatch, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    monkeypatch.setenv("HUB_AUDIT_URL", url)
    assert main(["--home", str(tmp_path), "audit", "migrate"]) == 0
    assert "→ 0005" in capsys.readouterr().out


# -- appending -----------------------------------------------------------------------------------


def test_append_is_idempotent_and_chained(audit_url: str) -> None:
    store = AuditStore(audit_url)
    first = store.append(events(50))
    assert (first.appended, first.skipped, first.head_seq) == (50, 0, 50)
    assert first.kinds == {"submitted": 50}
    again = store.append(events(60))  # 50 repeats, 10 new, in one batch
    assert (again.appended, again.skipped, again.head_seq) == (10, 50, 60)
    dup_in_batch = store.append(events(1, 60) + events(1, 60))
    assert (dup_in_batch.appended, dup_in_batch.skipped) == (1, 1)
    records = list(store.records(batch=7))
    assert [r["seq"] for r in records] == list(range(1, 62))
    assert [r["message_id"] for r in records] == [f"msg-{i}" for i in range(61)]
    assert verify_chain(records, [], lambda _k: None).ok
    store.close()


def test_concurrent_writers_keep_one_chain(audit_url: str) -> None:
    stores = [AuditStore(audit_url), AuditStore(audit_url, migrate_schema=False)]
    errors: list[BaseException] = []

    def write(store: AuditStore, offset: int) -> None:
        try:
            for i in range(10):
                store.append(events(5, offset + i * 5))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, k * 1000)) for k, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert stores[0].count() == 100
    assert verify_chain(stores[0].records(), [], lambda _k: None).ok
    for s in stores:
        s.close()


def test_checkpoints_only_when_there_is_something_new(audit_url: str) -> None:
    store = AuditStore(audit_url)
    key = SigningKey.generate()
    assert store.checkpoint(key) is None  # empty log
    store.append(events(3))
    cp = store.checkpoint(key)
    assert cp is not None and cp.seq == 3 and cp.head_hash == store.head()[1]
    assert store.checkpoint(key) is None
    store.append(events(2, 3))
    assert store.checkpoint(key).seq == 5
    assert [c.seq for c in store.checkpoints()] == [3, 5]


def test_rows_cannot_be_updated_or_deleted(audit_url: str) -> None:
    store = AuditStore(audit_url)
    store.append(events(3))
    store.checkpoint(SigningKey.generate())
    for statement in (
        "UPDATE audit_log SET sender = 'X' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 3",
        "DELETE FROM audit_checkpoints",
    ):
        with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
    assert store.count() == 3


# -- tampering directly in the database ------------------------------------------------------


def _tamper_sqlite(path: str, *statements: str) -> None:
    db = sqlite3.connect(path)
    # Whoever edits the file can drop the guard; the chain must still tell.
    for name in ("audit_log_no_update", "audit_log_no_delete"):
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    for s in statements:
        db.execute(s)
    db.commit()
    db.close()


def _psql(url: str, sql: str) -> subprocess.CompletedProcess:
    # Superuser edits bypass triggers with session_replication_role = replica.
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    return subprocess.run(
        ["psql", dsn, "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True
    )


def tamper(url: str, *statements: str) -> None:
    if url.startswith("sqlite"):
        _tamper_sqlite(url.removeprefix("sqlite:///"), *statements)
    else:
        sql = "SET session_replication_role = replica; " + "; ".join(statements)
        done = _psql(url, sql)
        assert done.returncode == 0, done.stderr


ATTACKS = {
    # one byte: MIB@350582 → MIB@350583
    "altered": (["UPDATE audit_log SET sender = 'MIB@350583' WHERE seq = 7"], 7, "altered"),
    "deleted": (["DELETE FROM audit_log WHERE seq = 7"], 7, "missing"),
    "inserted": (
        [
            "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 7",
            "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 107",
            "INSERT INTO audit_log (seq, event_id, kind, occurred_at, recorded_at, facts, "
            "prev_hash, hash) SELECT 7, 'forged', kind, occurred_at, recorded_at, facts, hash, "
            "hash FROM audit_log WHERE seq = 6",
        ],
        7,
        "",
    ),
    "reordered": (
        [
            "UPDATE audit_log SET seq = -1 WHERE seq = 7",
            "UPDATE audit_log SET seq = 7 WHERE seq = 8",
            "UPDATE audit_log SET seq = 8 WHERE seq = -1",
        ],
        7,
        "",
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_verify_names_the_first_bad_record(
    attack: str, audit_url: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    store = AuditStore(audit_url)
    store.append(events(12))
    store.checkpoint(ops_key(tmp_path))
    store.close()
    code, before = verify_cli(tmp_path, audit_url, monkeypatch, capsys)
    assert code == 0 and before["ok"] and before["checkpoints_verified"] == 1

    statements, seq, words = ATTACKS[attack]
    tamper(audit_url, *statements)
    code, after = verify_cli(tmp_path, audit_url, monkeypatch, capsys)
    assert code == 1, after
    assert after["ok"] is False
    assert after["first_bad_record"]["seq"] == seq, after
    assert words in after["first_bad_record"]["problem"]
    # And the people's output says the same.
    monkeypatch.setenv("HUB_AUDIT_URL", audit_url)
    assert main(["--home", str(tmp_path), "audit", "verify"]) == 1
    assert f"record #{seq}" in capsys.readouterr().out


def test_rewritten_chain_fails_on_the_external_checkpoint(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """A forger who recomputes every hash and deletes the checkpoints is caught by a copy."""
    from hub.audit.chain import GENESIS, record_hash

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = AuditStore(url)
    store.append(events(10))
    store.checkpoint(ops_key(tmp_path))
    monkeypatch.setenv("HUB_AUDIT_URL", url)
    kept = tmp_path / "offsite.jsonl"
    assert main(["--home", str(tmp_path), "audit", "checkpoint", "--no-sign", "--export",
                 str(kept)]) == 0  # fmt: skip
    records = list(store.records())
    store.close()
    records[3]["recipient"] = "PSB@350583"
    prev, stmts = GENESIS, []
    for r in records:
        r["prev_hash"] = prev
        r["hash"] = prev = record_hash(prev, r)
        stmts.append(
            f"UPDATE audit_log SET recipient = '{r['recipient']}', prev_hash = '{r['prev_hash']}',"
            f" hash = '{r['hash']}' WHERE seq = {r['seq']}"
        )
    _tamper_sqlite(url.removeprefix("sqlite:///"), "DROP TRIGGER audit_checkpoints_no_delete",
                   "DELETE FROM audit_checkpoints", *stmts)  # fmt: skip
    code, out = verify_cli(tmp_path, url, monkeypatch, capsys)
    assert code == 0 and out["checkpoints_verified"] == 0  # nothing inside the database tells
    capsys.readouterr()
    code = main(["--home", str(tmp_path), "audit", "verify", "--json", "--checkpoints", str(kept)])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["first_bad_record"]["seq"] == 10
    assert "rewritten" in out["first_bad_record"]["problem"]
