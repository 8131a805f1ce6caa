"""The durable store on SQLite and PostgreSQL: idempotent writes, dead letters, replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.storage.store import DeliveryRow, Store
from hub.wire.deadletter import DeadLetter, dead_letter_id

NOW = datetime(2024, 6, 19, 2, 0, tzinfo=UTC)


def delivery(message_id: str, **changes) -> DeliveryRow:
    values = dict(
        message_id=message_id,
        conversation_id=message_id,
        family="clue_transfer",
        sender="MIB@350582",
        recipient="PSB@350583",
        routed_to="PSB@350500",
        fallback=True,
        created_at=NOW,
        routed_at=NOW + timedelta(milliseconds=40),
    )
    values.update(changes)
    return DeliveryRow(**values)


def letter(original: bytes, offset: int, **changes) -> DeadLetter:
    values = dict(
        dead_letter_id=dead_letter_id(original, "hub.ingress", 2, offset, 1718762400000),
        reason="no_route",
        detail="no connector for SAMR@350521",
        original=original,
        source_topic="hub.ingress",
        source_partition=2,
        source_offset=offset,
        dead_lettered_at=NOW + timedelta(seconds=offset),
        message_id=f"m-{offset}",
        family="clue_transfer",
        sender="MIB@350582",
        recipient="SAMR@350521",
    )
    values.update(changes)
    return DeadLetter(**values)


def test_a_redelivered_delivery_changes_nothing(store: Store) -> None:
    assert store.record_delivery(delivery("a"))
    assert not store.record_delivery(delivery("a", routed_to="PSB@350583", fallback=False))
    assert store.was_delivered("a") and not store.was_delivered("b")
    [row] = store.deliveries()
    assert row.routed_to == "PSB@350500" and row.fallback is True
    assert row.created_at == NOW  # UTC-aware on both databases
    assert store.count_deliveries() == 1


def test_dead_letters_are_idempotent_listed_newest_first_and_replayable(store: Store) -> None:
    first, second = letter(b"\x00" * 1024, 7), letter(b"\xc3\x01junk", 8, reason="undecodable")
    assert store.record_dead_letter(first)
    assert not store.record_dead_letter(first)  # redelivered record
    assert store.record_dead_letter(second)
    rows = store.dead_letters()
    assert [r["dead_letter_id"] for r in rows] == [second.dead_letter_id, first.dead_letter_id]
    assert rows[1]["original"] == b"\x00" * 1024
    assert store.count_dead_letters() == {"no_route": 1, "undecodable": 1}
    assert [r["reason"] for r in store.dead_letters(reason="undecodable")] == ["undecodable"]

    assert store.find_dead_letters(first.dead_letter_id[:10]) == [first.dead_letter_id]
    store.mark_replayed(first.dead_letter_id, NOW + timedelta(hours=1))
    store.mark_replayed(first.dead_letter_id, NOW + timedelta(hours=2))
    row = store.dead_letter(first.dead_letter_id)
    assert row is not None
    assert row["replay_count"] == 2
    assert row["last_replayed_at"] == NOW + timedelta(hours=2)
    assert [r["dead_letter_id"] for r in store.dead_letters(include_replayed=False)] == [
        second.dead_letter_id
    ]


def test_dead_letter_ids_tell_submissions_apart() -> None:
    same = dead_letter_id(b"x", "hub.ingress", 0, 5, 1000)
    assert same == dead_letter_id(b"x", "hub.ingress", 0, 5, 1000)
    # The in-memory broker reuses offsets after a restart; the record timestamp differs.
    assert same != dead_letter_id(b"x", "hub.ingress", 0, 5, 2000)
    assert same != dead_letter_id(b"y", "hub.ingress", 0, 5, 1000)


def test_old_dead_letters_and_delivered_ids_are_pruned_the_rest_kept(store: Store) -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    store.record_delivery(delivery("old", routed_at=now - timedelta(days=40)))
    store.record_delivery(delivery("new", routed_at=now - timedelta(days=2)))
    store.record_dead_letter(letter(b"old", 1, dead_lettered_at=now - timedelta(days=91)))
    store.record_dead_letter(letter(b"new", 2, dead_lettered_at=now - timedelta(days=89)))
    pruned = store.prune(
        dead_letters_before=now - timedelta(days=90), deliveries_before=now - timedelta(days=30)
    )
    assert (pruned.dead_letters, pruned.deliveries) == (1, 1)
    assert not store.was_delivered("old") and store.was_delivered("new")
    assert [r["original"] for r in store.dead_letters()] == [b"new"]


def test_the_dedup_memory_must_outlive_the_freshness_window(tmp_path: Path) -> None:
    from hub.core.config import load_settings
    from hub.core.errors import ConfigError

    with pytest.raises(ConfigError, match="dedup_retention_days"):
        load_settings(None, home=tmp_path, dedup_retention_days=1.0)
