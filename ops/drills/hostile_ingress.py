"""Hostile-ingress drill: thousands of malformed, repeated and oversized records at a live hub.

Writes to ``hub.ingress``, as any client of the broker could: random bytes, the Avro magic with
junk, bit flips and truncations of valid envelopes, a declared length far past the end, valid
envelopes with trailing junk, exact repeats, junk headers (not UTF-8, oversized, a malformed
replay mark), and one record of about 1 MB.  Then it waits until the hub has given every record
an outcome and checks the books, exactly:

    records written = delivered + dead-lettered + recognised repeats

and that the hub still routes a good message afterwards.  Counts come from the hub's SQL store
(deliveries, dead letters) and its ``/metrics`` (repeats), as deltas over the run.

    .venv/bin/python ops/drills/hostile_ingress.py --records 20000     # against `hub run` here
    ./dev test tests/e2e/test_hostile_ingress.py                          # the short run in CI
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hub.core.clock import now_utc  # noqa: E402
from hub.trust.address import Address  # noqa: E402
from hub.trust.keys import SigningKey  # noqa: E402
from hub.wire.envelope import seal  # noqa: E402
from hub.wire.headers import REPLAY_OF  # noqa: E402
from hub.wire.jsonpayload import from_json  # noqa: E402
from hub.wire.schemas import SchemaRegistry  # noqa: E402
from hub.wire.topics import INGRESS  # noqa: E402

SENDER, RECIPIENT = Address("MIB", "350582"), Address("PSB", "350582")
ONE_MB = 1_000_100


@dataclass
class Plan:
    records: list[tuple[bytes, list[tuple[str, bytes]]]] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    valid_ids: set[str] = field(default_factory=set)
    repeat_ids: set[str] = field(default_factory=set)

    @property
    def expected_repeats(self) -> int:
        return self.kinds["exact repeat"] - len(self.repeat_ids)

    def add(self, kind: str, value: bytes, headers: list[tuple[str, bytes]] | None = None) -> None:
        self.records.append((value, headers or []))
        self.kinds[kind] += 1


def build(
    registry: SchemaRegistry, key: SigningKey, example: dict[str, Any], n: int, seed: int = 7
) -> Plan:
    """About ``n`` hostile records (and a few good ones), the same for the same seed."""
    rnd = random.Random(seed)
    schema = registry.latest("clue_transfer")

    def valid() -> tuple[str, bytes]:
        env, raw = seal(
            registry,
            family="clue_transfer",
            payload_schema=schema,
            payload=from_json(
                schema.raw, {**example, "clue_id": f"H-{uuid.UUID(int=rnd.getrandbits(128))}"}
            ),
            sender=SENDER,
            recipient=RECIPIENT,
            key=key,
            message_id=str(uuid.UUID(int=rnd.getrandbits(128))),
            created_at=now_utc(),
        )
        return env.message_id, raw

    plan = Plan()
    fingerprint = registry.latest("envelope").fingerprint
    makers: list[Callable[[], None]] = []

    def random_bytes() -> None:
        plan.add("random bytes", rnd.randbytes(rnd.randrange(0, 2000)))

    def magic_junk() -> None:
        plan.add("magic + junk", b"\xc3\x01" + rnd.randbytes(rnd.randrange(0, 300)))

    def bit_flip() -> None:
        _, raw = valid()
        b = bytearray(raw)
        b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        plan.add("bit flip", bytes(b))

    def truncated() -> None:
        _, raw = valid()
        plan.add("truncated", raw[: rnd.randrange(0, len(raw))])

    def huge_length() -> None:
        # A string field claiming ~2^62 bytes right after the envelope's fingerprint.
        plan.add(
            "huge declared length",
            b"\xc3\x01" + fingerprint + b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f",
        )

    def trailing() -> None:
        _, raw = valid()
        plan.add("trailing junk", raw + rnd.randbytes(rnd.randrange(1, 50)))

    def repeats() -> None:
        mid, raw = valid()
        plan.valid_ids.add(mid)
        plan.repeat_ids.add(mid)
        for _ in range(rnd.randrange(2, 5)):
            plan.add("exact repeat", raw)

    def junk_headers() -> None:
        mid, raw = valid()
        plan.valid_ids.add(mid)
        headers = rnd.choice(
            [
                [(REPLAY_OF, b"\xff\xfe")],
                [(REPLAY_OF, b"dl-" + b"a" * 4000)],
                [("hub-via", rnd.randbytes(20)), ("x" * 300, b"y" * 3000)],
            ]
        )
        plan.add("junk headers", raw, headers)

    makers = [
        random_bytes,
        magic_junk,
        bit_flip,
        truncated,
        huge_length,
        trailing,
        repeats,
        junk_headers,
    ]
    while len(plan.records) < n:
        rnd.choice(makers)()
    plan.add("1 MB record", b"\xc3\x01" + fingerprint + rnd.randbytes(ONE_MB))
    return plan


def write(bootstrap: str, plan: Plan, security: dict[str, Any] | None = None) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=4 * 1024 * 1024,
        **(security or {}),
    )  # fmt: skip
    started = time.perf_counter()
    try:
        for value, headers in plan.records:
            producer.send(INGRESS.name, value=value, key=None, headers=headers)
        producer.flush(timeout=120)
    finally:
        producer.close()
    return time.perf_counter() - started


@dataclass(frozen=True)
class Books:
    delivered: int
    dead_lettered: int
    repeats: int

    @property
    def total(self) -> int:
        return self.delivered + self.dead_lettered + self.repeats

    def minus(self, other: Books) -> Books:
        return Books(
            self.delivered - other.delivered,
            self.dead_lettered - other.dead_lettered,
            self.repeats - other.repeats,
        )


def books(store: Any, metrics_url: str, ids: Collection[str]) -> Books:
    """Deliveries of the plan's own ``ids`` (the hub delivers messages of its own meanwhile:
    on a Monday, the week's report duties), all dead letters, and the repeats counted."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    repeats = sum(
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "hub_messages_duplicate_total"
    )
    delivered = len(store.deliveries_by_id(sorted(ids)))
    return Books(delivered, sum(store.count_dead_letters().values()), int(repeats))


def settle(measure: Callable[[], Books], before: Books, expected: int, timeout_s: float) -> Books:
    """Wait until the hub has an outcome for ``expected`` more records (or time runs out)."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = measure().minus(before)
        if done.total >= expected or time.monotonic() > deadline:
            return done
        time.sleep(0.5)


def main() -> int:
    import json

    from hub.core.config import load_settings
    from hub.runtime.state import read_state
    from hub.storage.store import Store
    from hub.trust.directory import load_signing_key
    from hub.trust.directory_file import load_directory

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    settings = load_settings()
    state = read_state(settings.state_file)
    registry = SchemaRegistry.load(settings.schemas_path)
    key = load_signing_key(settings.keys_dir, SENDER, load_directory(settings))
    example = json.loads((ROOT / "examples/payloads/clue_transfer.json").read_text("utf-8"))
    plan = build(registry, key, example, args.records, args.seed)
    store = Store(settings.effective_store_url)
    measure = lambda: books(store, f"{state.web_url}/metrics", plan.valid_ids)  # noqa: E731
    before = measure()
    print(f"writing {len(plan.records)} records: {dict(plan.kinds)}", file=sys.stderr)
    took = write(state.bootstrap, plan, settings.kafka_python_security())
    started = time.perf_counter()
    done = settle(measure, before, len(plan.records), args.timeout)
    print(f"written in {took:.1f} s; outcomes after {time.perf_counter() - started:.1f} s")
    print(
        f"written={len(plan.records)} delivered={done.delivered} "
        f"dead_lettered={done.dead_lettered} repeats={done.repeats} accounted={done.total}"
    )
    ok = done.total == len(plan.records)
    print("books balance" if ok else "BOOKS DO NOT BALANCE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
