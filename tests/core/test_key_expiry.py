"""When keys fall due for rotation, as the key-expiry gauge and HubKeyNearExpiry read it."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.trust.address import Address
from hub.trust.directory import Connector, Directory, KeyEntry
from hub.trust.expiry import key_expiries


def key(kid: str, created: str, status: str = "active") -> KeyEntry:
    return KeyEntry(kid, "AA==", created, status)


def test_an_active_key_is_due_its_lifetime_after_it_was_made_and_retired_ones_never() -> None:
    psb = Address.parse("PSB@350500")
    directory = Directory(
        {
            psb: Connector(
                psb,
                keys=(
                    key("old", "2024-01-01T00:00:00Z", "retired"),
                    key("new", "2026-01-01T00:00:00Z"),
                ),
                encryption_keys=(key("gone", "2025-06-01T00:00:00Z", "revoked"),),
            )
        }
    )
    due = key_expiries(directory, 365)
    assert due == {("PSB@350500", "signing"): datetime(2027, 1, 1, tzinfo=UTC).timestamp()}


def test_of_two_active_keys_of_one_use_the_older_falls_due_first() -> None:
    fin = Address.parse("FIN@350500")
    directory = Directory(
        {
            fin: Connector(
                fin,
                encryption_keys=(
                    key("a", "2026-03-01T00:00:00Z"),
                    key("b", "2026-02-01T00:00:00Z"),
                ),
            )
        }
    )
    assert key_expiries(directory, 10) == {
        ("FIN@350500", "encryption"): datetime(2026, 2, 11, tzinfo=UTC).timestamp()
    }
