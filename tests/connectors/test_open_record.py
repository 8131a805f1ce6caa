"""The recipient's end-to-end checks, without a broker: the connector checks what the router
checks, and a record that fails is a VerificationError (to be skipped), never another crash."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.messages import VerificationError, open_record
from hub.core.clock import truncate_ms
from hub.routing.freshness import Freshness
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.wire import headers
from hub.wire.envelope import seal
from hub.wire.jsonpayload import from_json
from hub.wire.schemas import SchemaRegistry
from tests.hubproc import load_example

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = SchemaRegistry.load(ROOT / "schemas" / "avro")
MIB, PSB, PSB_CITY = Address("MIB", "350582"), Address("PSB", "350582"), Address("PSB", "350500")
KEYS = {a: SigningKey.generate() for a in (MIB, PSB, PSB_CITY)}
FRESH = Freshness()


def directory(revoked: set[Address] = frozenset()) -> Directory:  # type: ignore[assignment]
    d = Directory()
    for address, key in KEYS.items():
        d = d.with_key(address, key)
    if revoked:
        conns = {
            a: replace(c, keys=tuple(replace(k, status="revoked") for k in c.keys))
            if a in revoked else c
            for a, c in d.connectors.items()
        }  # fmt: skip
        d = Directory(conns)
    return d


def record(to: Address = PSB, *, hdrs: tuple = (), arrived_ms: int | None = None, **kw: Any) -> Any:
    schema = REGISTRY.latest("clue_transfer")
    _, raw = seal(
        REGISTRY,
        family="clue_transfer",
        payload_schema=schema,
        payload=from_json(schema.raw, load_example("clue_transfer")),
        sender=MIB,
        recipient=to,
        key=KEYS[MIB],
        **kw,
    )
    stamp = int(time.time() * 1000) if arrived_ms is None else arrived_ms
    return SimpleNamespace(
        value=raw, headers=list(hdrs), topic="hub.inbox.PSB.350582", partition=0, offset=7,
        timestamp=stamp,
    )  # fmt: skip


def opened(rec: Any, me: Address = PSB, d: Directory | None = None) -> Any:
    return open_record(REGISTRY, d or directory(), rec, me=me, freshness=FRESH)


def test_a_good_record_opens() -> None:
    msg = opened(record())
    assert msg.family == "clue_transfer" and msg.via == "direct"


def test_a_via_header_that_is_not_utf8_does_not_raise() -> None:
    msg = opened(record(hdrs=((headers.VIA, b"\xff\xfe"),)))
    assert msg.via == "direct"


def test_a_revoked_sender_key_is_refused() -> None:
    with pytest.raises(VerificationError, match="revoked"):
        opened(record(), d=directory(revoked={MIB}))


def test_a_record_for_another_connector_is_refused() -> None:
    with pytest.raises(VerificationError, match="addressed to MIB@350582"):
        opened(record(to=MIB))


def test_a_county_message_delivered_to_the_city_by_fallback_is_accepted() -> None:
    assert opened(record(to=Address("PSB", "350521")), me=PSB_CITY).family == "clue_transfer"
    with pytest.raises(VerificationError):  # but not one for another city's county
        opened(record(to=Address("PSB", "350721")), me=PSB_CITY)


def test_a_stale_record_is_refused_by_when_it_reached_the_inbox() -> None:
    old = truncate_ms(datetime.now(UTC) - timedelta(days=3))
    with pytest.raises(VerificationError, match="stale"):
        opened(record(created_at=old))
    # Read late is fine: judged by when it reached the inbox, not by now.
    arrived = int((old + timedelta(minutes=1)).timestamp() * 1000)
    assert opened(record(created_at=old, arrived_ms=arrived)).family == "clue_transfer"


@pytest.mark.parametrize(
    "value",
    [b"", b"\xc3\x01" + b"\x00" * 8, b"\xc3\x01" + b"\xff" * 40, bytes(range(256))],
    ids=["empty", "header only", "junk body", "random"],
)
def test_bytes_that_are_not_an_envelope_are_a_verification_error(value: bytes) -> None:
    rec = SimpleNamespace(value=value, headers=[], topic="t", partition=0, offset=0, timestamp=0)
    with pytest.raises(VerificationError):
        opened(rec)
