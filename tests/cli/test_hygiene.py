"""What the command line leaves on disk and prints: private files, masked secrets."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def hub(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "--home", str(home), *args],
        cwd=ROOT,
        env={**os.environ, "HUB_DEV_DIRECTORY": "never", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_files_the_hub_writes_are_private_to_its_user(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old = os.umask(0o022)  # a permissive umask, as a desktop session has
    try:
        assert hub(home, "directory", "init").returncode == 0
        assert hub(home, "keys", "new", "MIB@350582").returncode == 0
        assert hub(home, "dlq", "list").returncode == 0  # creates the SQLite store
    finally:
        os.umask(old)
    written = [p for p in home.rglob("*")]
    assert any(p.name == "hub.db" for p in written)
    for path in [home, *written]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.relative_to(tmp_path)} is {oct(mode)}"


def test_hub_config_masks_passwords(tmp_path: Path) -> None:
    env = {
        "HUB_STORE_URL": "postgresql+psycopg://hub:s3cret-store@db/hub",
        "HUB_AUDIT_URL": "postgresql+psycopg://audit:s3cret-audit@db/audit",
        "HUB_KAFKA_SASL_PASSWORD": "s3cret-sasl",
    }
    out = hub(tmp_path, "config", env=env)
    assert out.returncode == 0, out.stderr
    assert "s3cret" not in out.stdout + out.stderr
    assert "postgresql+psycopg://hub:***@db/hub" in out.stdout


def test_migrate_refuses_to_drop_a_log_with_records_unless_forced_and_journals_it(
    tmp_path: Path,
) -> None:
    from hub.audit.store import AuditStore
    from tests.audit.test_audit_store import events

    home = tmp_path / "home"
    url = f"sqlite:///{home / 'audit.db'}"
    home.mkdir()
    store = AuditStore(url)
    store.append(events(3))
    store.close()
    env = {"HUB_AUDIT_URL": url}
    refused = hub(home, "audit", "migrate", "--revision", "base", env=env)
    assert refused.returncode == 2 and "refusing" in refused.stderr
    assert AuditStore(url, migrate_schema=False).count() == 3  # nothing dropped
    forced = hub(home, "audit", "migrate", "--revision", "base", "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    journal = (home / "audit-downgrades.log").read_text(encoding="utf-8")
    assert "downgrade 0005 -> base" in journal and "3 records, head #3" in journal
    # An empty log may be moved freely (nothing to lose).
    assert hub(home, "audit", "migrate", env=env).returncode == 0
    assert hub(home, "audit", "migrate", "--revision", "base", env=env).returncode == 0
