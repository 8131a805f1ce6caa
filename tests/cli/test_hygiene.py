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
