"""Independent time on the audit log: a real RFC 3161 TSA (``openssl ts -reply``, tests/tsa.py)
stamps each signed checkpoint; the tokens verify in the hub and, from an export alone, with
``openssl ts -verify``; an unreachable TSA costs the log nothing and its checkpoints are stamped
when it answers again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from consumers.timestamper import Timestamper
from hub.audit.export import export
from hub.audit.stamps import Stamps, check_timestamps
from hub.audit.store import AuditStore
from hub.audit.timestamps import TimestampClient, ingress_refusal, load_roots, stamped_bytes
from hub.trust.keys import SigningKey
from tests.audit.test_audit_store import events
from tests.tsa import LocalTsa

ROOT = Path(__file__).resolve().parents[2]
FAILURES_TOTAL = "hub_audit_timestamp_failures_total"


@pytest.fixture(params=["ec", "rsa"])
def tsa(request: pytest.FixtureRequest) -> Iterator[LocalTsa]:
    """A TSA with an EC key (its chain comes in DER order) and one with an RSA key (OpenSSL sends
    its longer certificate first, out of DER set order, as real TSAs do)."""
    with LocalTsa(request.param) as t:
        yield t


def test_a_token_whose_chain_is_out_of_der_order_is_read_and_kept_as_the_tsa_sent_it(
    tmp_path: Path,
) -> None:
    """Issue 30.3: what ``openssl ts -verify`` accepts, the hub accepts; the bytes stored are the
    TSA's own, not the reordered ones."""
    from rfc3161_client import decode_timestamp_response

    from hub.audit.timestamps import in_der_set_order, verify_token

    with LocalTsa("rsa") as tsa:
        token = TimestampClient(tsa.url).stamp(b"checkpoint")
        with pytest.raises(ValueError, match="InvalidSetOrdering"):
            decode_timestamp_response(token)  # the library alone refuses it
        assert in_der_set_order(token) != token
        assert in_der_set_order(in_der_set_order(token)) == in_der_set_order(token)
        assert verify_token(token, b"checkpoint", [*load_roots(tsa.ca)])
        (tmp_path / "t.tsr").write_bytes(token)
        (tmp_path / "t.dat").write_bytes(b"checkpoint")
        ok = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "t.dat"), "-in",
                             str(tmp_path / "t.tsr"), "-CAfile", str(tsa.ca)],
                            capture_output=True, text=True)  # fmt: skip
        assert ok.returncode == 0, ok.stderr


def test_a_reply_that_is_no_token_is_refused_with_the_real_reason() -> None:
    from hub.audit.timestamps import TimestampError, decode_token, verify_token

    with pytest.raises(ValueError, match="not a TimeStampResp"):
        decode_token(b"\x30\x03\x02\x01\x00junk")
    with pytest.raises(TimestampError, match="not a time-stamp response: "):
        verify_token(b"junk", b"x", [])


def test_each_checkpoint_gets_a_token_that_openssl_verifies_from_an_export(
    tsa: LocalTsa, tmp_path: Path
) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    key = SigningKey.generate()
    stamper = Timestamper(store, TimestampClient(tsa.url), interval_s=60)
    for start in (0, 5):  # two batches, two checkpoints, one TSA request each
        store.append(events(5, start=start))
        store.checkpoint(key)
    assert stamper.once() == 2 and tsa.answered == 2
    assert stamper.once() == 0 and tsa.answered == 2  # a stamped checkpoint is not sent again
    assert check_timestamps(store, str(tsa.ca)) == (2, None)
    env = {**os.environ, "HUB_AUDIT_URL": store.url, "HUB_TSA_CA_FILE": str(tsa.ca)}
    cli = subprocess.run([sys.executable, "-m", "hub.cli", "--home", str(tmp_path), "audit",
                          "verify", "--key", f"{key.key_id}={key.public_b64}"],
                         capture_output=True, text=True, env=env, cwd=ROOT)  # fmt: skip
    assert cli.returncode == 0 and "2 timestamp(s) verified" in cli.stdout, cli.stdout + cli.stderr

    keys = {key.key_id: {"address": "HUB@100000", "public_key": key.public_b64}}
    manifest = export(store, tmp_path / "export", checkpoint_keys=keys)
    assert [t["seq"] for t in manifest["timestamps"]] == [5, 10]
    folder = tmp_path / "export" / "timestamps"
    for seq in (5, 10):
        ok = subprocess.run(["openssl", "ts", "-verify", "-data", str(folder / f"{seq}.dat"),
                             "-in", str(folder / f"{seq}.tsr"), "-CAfile", str(tsa.ca)],
                            capture_output=True, text=True)  # fmt: skip
        assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stderr
    # The token of one checkpoint does not date another.
    swapped = subprocess.run(["openssl", "ts", "-verify", "-data", str(folder / "5.dat"),
                              "-in", str(folder / "10.tsr"), "-CAfile", str(tsa.ca)],
                             capture_output=True, text=True)  # fmt: skip
    assert swapped.returncode != 0
    # The export's own verifier checks the token files' digests with the rest.
    out = subprocess.run([sys.executable, str(ROOT / "ops/audit/verify_export.py"),
                          str(tmp_path / "export")], capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads((tmp_path / "export" / "manifest.json").read_text())["timestamps"]


def test_an_unreachable_tsa_costs_the_log_nothing_and_is_caught_up(
    tsa: LocalTsa, tmp_path: Path
) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    key = SigningKey.generate()
    stamper = Timestamper(store, TimestampClient(tsa.url, timeout_s=2), interval_s=60)
    tsa.down = True
    failures = REGISTRY.get_sample_value(FAILURES_TOTAL) or 0.0
    store.append(events(3))
    store.checkpoint(key)
    assert stamper.once() == 0
    assert REGISTRY.get_sample_value(FAILURES_TOTAL) == failures + 1
    store.append(events(3, start=3))  # the log goes on meanwhile
    store.checkpoint(key)
    assert [cp.seq for cp in Stamps(store).unstamped()] == [3, 6]
    assert Stamps(store).waiting() == 2 and Stamps(store).oldest_unstamped() is not None
    tsa.down = False
    assert stamper.once() == 2 and Stamps(store).unstamped() == []
    assert Stamps(store).oldest_unstamped() is None
    for start in (6, 9):
        store.append(events(3, start=start))
        store.checkpoint(key)
    # Caught up a batch at a time (here one), oldest first, until none waits.
    assert Stamps(store).stamp_pending(TimestampClient(tsa.url), batch=1) == 2
    assert Stamps(store).waiting() == 0
    assert check_timestamps(store, str(tsa.ca)) == (4, None)


def test_a_token_from_a_tsa_nobody_trusts_or_over_other_bytes_is_refused(
    tsa: LocalTsa, tmp_path: Path
) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    store.append(events(3))
    cp = store.checkpoint(SigningKey.generate())
    assert cp is not None
    client = TimestampClient(tsa.url)
    now = datetime.now(UTC)
    Stamps(store).add(cp.seq, client.stamp(stamped_bytes(cp) + b"x"), now)
    verified, problem = check_timestamps(store, str(tsa.ca))
    assert verified == 0 and problem is not None and f"#{cp.seq}" in problem
    with LocalTsa() as other:
        store2 = AuditStore(f"sqlite:///{tmp_path / 'b.db'}")
        store2.append(events(3))
        cp2 = store2.checkpoint(SigningKey.generate())
        assert cp2 is not None
        Stamps(store2).add(cp2.seq, TimestampClient(other.url).stamp(stamped_bytes(cp2)), now)
        assert check_timestamps(store2, str(tsa.ca))[1] is not None  # not our TSA's CA
        assert check_timestamps(store2, str(other.ca)) == (1, None)


def test_ingress_is_refused_only_once_a_checkpoint_waited_longer_than_the_period() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    four_hours = 4 * 3600.0
    assert ingress_refusal(None, now, four_hours) is None
    assert ingress_refusal(now - timedelta(hours=3, minutes=59), now, four_hours) is None
    reason = ingress_refusal(now - timedelta(hours=4, minutes=6), now, four_hours)
    assert reason is not None and "4.1 h" in reason and "(4.0 h)" in reason


class FakeConsumer:
    def __init__(self) -> None:
        self.assigned = {"p0", "p1"}
        self.stopped: set[str] = set()

    def assignment(self) -> set[str]:
        return self.assigned

    def pause(self, *tps: str) -> None:
        self.stopped |= set(tps)

    def paused(self) -> set[str]:
        return set(self.stopped)

    def resume(self, *tps: str) -> None:
        self.stopped -= set(tps)

    def seek(self, tp: str, offset: int) -> None:
        self.sought = (tp, offset)


def test_the_gate_pauses_the_routers_partitions_and_resumes_them_when_stamped(
    tsa: LocalTsa, tmp_path: Path
) -> None:
    import asyncio

    from hub.runtime.ingress.loop import IngressLoop
    from hub.runtime.timestamp_gate import TimestampGate

    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    store.append(events(3))
    store.checkpoint(SigningKey.generate())
    router = IngressLoop(None, lambda _h: None)  # type: ignore[arg-type]
    router.consumer = FakeConsumer()
    later = datetime.now(UTC) + timedelta(hours=5)
    gate = TimestampGate(router, lambda: store, 4 * 3600.0, lambda: later)
    asyncio.run(gate())
    assert router.refusing is not None and "no timestamp" in router.refusing
    router._gate()
    assert router.consumer.paused() == {"p0", "p1"}
    # Records a fetch brought as the gate closed are put back, not routed and not skipped.
    router._put_back({"p1": [SimpleNamespace(offset=7), SimpleNamespace(offset=8)]})
    assert router.consumer.sought == ("p1", 7)
    Timestamper(store, TimestampClient(tsa.url), interval_s=60).once()
    asyncio.run(gate())
    assert router.refusing is None
    router._gate()
    assert router.consumer.paused() == set()


def test_verify_json_is_one_document_whose_ok_is_the_exit_status_and_speaks_of_timestamps(
    tmp_path: Path,
) -> None:
    """Issue 30.10: with a wrong --tsa-ca the JSON said "ok": true while the exit was 1; with a
    TSA configured and no token ever obtained the verdict said nothing of timestamps."""
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    key = SigningKey.generate()
    store.append(events(3))
    store.checkpoint(key)
    keyarg = ["--key", f"{key.key_id}={key.public_b64}"]

    def verify(*extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hub.cli", "--home", str(tmp_path), "audit",
                               "verify", *keyarg, *extra], capture_output=True, text=True,
                              env={**os.environ, "HUB_AUDIT_URL": store.url, **(env or {})},
                              cwd=ROOT)  # fmt: skip

    silent = verify(env={"HUB_TSA_URL": "http://127.0.0.1:9/tsa"})
    assert silent.returncode == 0 and "none of the 1 checkpoint(s) has a timestamp" in silent.stdout
    with LocalTsa() as tsa, LocalTsa() as other:
        assert Timestamper(store, TimestampClient(tsa.url), interval_s=60).once() == 1
        wrong = verify("--json", "--tsa-ca", str(other.ca))
        verdict = json.loads(wrong.stdout)  # one document, nothing after it
        assert wrong.returncode == 1 and verdict["ok"] is False and verdict["chain_ok"] is True
        assert verdict["timestamp_problem"]
        from hub.core.config import Settings
        from hub.storage.store import Store

        Store(Settings(home=tmp_path).effective_store_url)  # the hub's store: no head cosigned
        right = verify("--json", "--tsa-ca", str(tsa.ca), "--witnesses", "1")
        verdict = json.loads(right.stdout)
        assert right.returncode == 1 and verdict["ok"] is False  # no agency cosigned a head
        assert verdict["witnesses"]["required"] == 1 and verdict["timestamps_verified"] == 1
