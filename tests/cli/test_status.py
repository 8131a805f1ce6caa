"""`hub status` on a big board: the most urgent rows, and a line saying how many there are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from hub.lifecycle.tables import obligations
from hub.storage.store import Store
from tests.cli.test_hygiene import hub


def test_status_shows_the_most_urgent_rows_of_a_big_board_and_says_how_many_more(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    store = Store(f"sqlite:///{home / 'hub.db'}")
    now = datetime.now(UTC)
    rows = []
    for n in range(60):  # 60 pairs, one open obligation each; only MIB@350599 is overdue
        due = now - timedelta(days=2) if n == 37 else now + timedelta(days=10)
        rows.append({
            "obligation_id": f"m{n}:receipt", "message_id": f"m{n}", "stage": "receipt",
            "debtor": "PSB@350582", "creditor": f"MIB@3505{n + 62:02d}", "family": "clue_transfer",
            "started_at": now - timedelta(days=3), "warn_at": due, "due_at": due,
            "escalate_at": due + timedelta(days=1),
        })  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(insert(obligations), rows)
    store.close()
    short = hub(home, "status", "--limit", "5")
    assert short.returncode == 0, short.stderr
    lines = [line for line in short.stdout.splitlines() if "PSB@350582" in line]
    assert len(lines) == 5
    assert "MIB@350599" in lines[0]  # the overdue pair first, though its sender sorts last
    assert "the 5 most urgent of 60 rows" in short.stdout
    every = hub(home, "status", "--all")
    assert len([line for line in every.stdout.splitlines() if "PSB@350582" in line]) == 60
    assert "most urgent" not in every.stdout
