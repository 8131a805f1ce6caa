"""One agency migrates from intl to gm mid-stream on a running hub, losing and doubling nothing.

The discipline commission (CDI@350582) and the county bureau (MIB@350582) rotate to gm keys
(`hub keys rotate --suite gm`) while messages are in flight: clues signed with the bureau's old
Ed25519 key, corruption clues sealed to the commission's old X25519 key, and the same sent after
the rotation with the old connector still running and with a new one.  Every message reaches its
inbox exactly once and opens; no dead letter; the log still verifies.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from hub.storage.store import Store
from hub.wire.envelope import read_envelope
from tests.e2e.test_end_to_end import payload
from tests.hubproc import HubProcess, raw_inbox_records, start_hub, wait_for_messages


@pytest.fixture(scope="module")
def intl_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    proc = start_hub(tmp_path_factory.mktemp("migrating-hub"))
    try:
        yield proc
    finally:
        proc.stop()


def send_batch(mib, n: int) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    clues = [mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
             for _ in range(n)]  # fmt: skip
    sealed = [mib.send("corruption_clue_handoff", "CDI@350582",
                       payload(mib, "corruption_clue_handoff")) for _ in range(n)]  # fmt: skip
    return clues, sealed


def test_an_agency_moves_from_intl_to_gm_mid_stream_losing_and_doubling_nothing(
    intl_hub: HubProcess,
) -> None:
    hub = intl_hub
    old = hub.connector("MIB@350582")
    assert old.key.key_id.startswith("ed25519:")  # type: ignore[union-attr]
    before = send_batch(old, 6)  # in flight: nobody has read them yet

    for address in ("CDI@350582", "MIB@350582"):
        rotated = hub.cli("keys", "rotate", address, "--suite", "gm").stdout.split()
        assert {k.split(":")[0] for k in rotated} == {"sm2", "sm2enc"}, rotated
    time.sleep(1.5)  # connectors re-read a changed directory at most once a second

    during = send_batch(old, 4)  # the old connector, still running with its retired key
    new = hub.connector("MIB@350582")
    assert new.key.key_id.startswith("sm2:")  # type: ignore[union-attr]
    after = send_batch(new, 4)

    clues = before[0] + during[0] + after[0]
    sealed = before[1] + during[1] + after[1]
    psb = wait_for_messages(hub.connector("PSB@350582", signing=False), clues)
    cdi = wait_for_messages(hub.connector("CDI@350582", signing=False), sealed)
    assert set(psb) == set(clues) and set(cdi) == set(sealed)
    assert all(m.payload["handoff_id"] for m in cdi.values())  # every one opened

    registry = new.registry
    seen: dict[str, Counter[str]] = {}
    for topic, ids in (("hub.inbox.PSB.350582", clues), ("hub.inbox.CDI.350582", sealed)):
        counts: Counter[str] = Counter()
        for record in raw_inbox_records(hub.state.bootstrap, topic):
            env = read_envelope(registry, record.value)
            if env.message_id in ids:
                counts[env.message_id] += 1
                seen.setdefault("signature", Counter())[env.signature_scheme] += 1
                if env.encryption:
                    seen.setdefault("encryption", Counter())[env.encryption["scheme"]] += 1
        assert counts == Counter(ids), f"{topic}: lost or doubled"
    assert set(seen["signature"]) == {"hub-sig-v2", "hub-sig-sm2-v1"}
    assert set(seen["encryption"]) == {"hpke-base-x25519-sha256-aes128gcm", "sm2-wrapped-sm4gcm"}

    store = Store(hub.settings.effective_store_url, create=False)
    assert not [d for d in store.dead_letters(limit=1000) if d["message_id"] in clues + sealed]
    assert json.loads(hub.cli("audit", "verify", "--json").stdout)["ok"]
