"""A hub whose checkpoints a real TSA timestamps (tests/tsa.py: ``openssl ts -reply`` over
HTTP), through an outage: routing goes on while the TSA is down, new ingress is refused once a
checkpoint has waited longer than ``acceptable_timestamp_failure_period_s`` (here seconds, not
4 h), nothing is lost meanwhile, and all resumes when the TSA answers; then the exported tokens
verify with ``openssl ts -verify`` and ``hub audit verify``."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_end_to_end import payload
from tests.hubproc import HubProcess, start_hub, wait_for_messages, wait_until
from tests.tsa import LocalTsa


@pytest.fixture(scope="module")
def tsa() -> Iterator[LocalTsa]:
    with LocalTsa("rsa") as t:  # its chain comes out of DER set order, as OpenSSL sends it
        yield t


@pytest.fixture(scope="module")
def stamped_hub(tsa: LocalTsa, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    proc = start_hub(tmp_path_factory.mktemp("stamped-hub"), extra_env={
        "HUB_TSA_URL": tsa.url, "HUB_TSA_CA_FILE": str(tsa.ca), "HUB_TSA_INTERVAL_S": "1",
        "HUB_ACCEPTABLE_TIMESTAMP_FAILURE_PERIOD_S": "4", "HUB_AUDIT_CHECKPOINT_INTERVAL_S": "1",
    })  # fmt: skip
    try:
        yield proc
    finally:
        proc.stop()


def test_a_tsa_outage_pauses_new_ingress_after_the_period_and_loses_nothing(
    stamped_hub: HubProcess, tsa: LocalTsa, tmp_path: Path
) -> None:
    hub = stamped_hub
    mib = hub.connector("MIB@350582")
    psb = hub.connector("PSB@350582", signing=False)
    tsa.down = True
    during = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
    wait_for_messages(psb, [during])  # the TSA is down: routing goes on
    wait_until(lambda: "refusing new ingress" in hub.log(), timeout=60,
               what="the router to refuse new ingress")  # fmt: skip
    held = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
    time.sleep(5)  # the router would have routed it in well under a second
    assert held not in {m.message_id for m in psb.messages(idle_timeout_s=1)}  # waits in ingress
    tsa.down = False
    wait_for_messages(psb, [held])  # stamped: the router takes ingress again, nothing lost
    assert "taking new ingress again" in hub.log()

    verdict = json.loads(hub.cli("audit", "verify", "--json").stdout)
    assert verdict["ok"] and verdict["timestamps_verified"] >= 1, verdict
    hub.cli("audit", "export", "--out", str(tmp_path / "export"))
    folder = tmp_path / "export" / "timestamps"
    tokens = sorted(folder.glob("*.tsr"))
    assert tokens
    for token in tokens:
        ok = subprocess.run(["openssl", "ts", "-verify", "-data", str(token.with_suffix(".dat")),
                             "-in", str(token), "-CAfile", str(tsa.ca)],
                            capture_output=True, text=True)  # fmt: skip
        assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stderr
