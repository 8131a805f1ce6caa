"""A real Prometheus scraping a real hub with ops/prometheus/alerts.yml: every rule evaluates
without error against what the hub really exports, and a forged signature fires
HubSuspectedForgery with the sender's agency (promtool's unit tests use hand-written series; this
checks the names and labels those series assume)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from kafka import KafkaProducer

from hub.demo.processes import interrupt
from hub.runtime.broker import free_port
from hub.trust.keys import SigningKey
from hub.wire.topics import INGRESS
from tests.e2e.test_end_to_end import dead_letter_of, sealed_clue
from tests.hubproc import HubProcess, wait_until

RULES = Path(__file__).resolve().parents[2] / "ops" / "prometheus" / "alerts.yml"


def api(base: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base}/api/v1/{path}", timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


@pytest.fixture
def prometheus(hub: HubProcess, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: `./dev test` installs Debian's prometheus package")
    jobs = {"hub-router": hub.state.web_url, "hub-audit-sink": hub.state.audit_metrics_url}
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [urlparse(url).netloc]}]}
            for job, url in jobs.items()
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    with open(tmp_path / "prometheus.log", "ab") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        yield base
    finally:
        interrupt(proc, 20)  # type: ignore[arg-type]


def forge(hub: HubProcess) -> str:
    """A clue under MIB's key id, signed with a key the directory does not know."""
    mib_key_id = hub.connector("MIB@350582").key.key_id
    env, raw = sealed_clue(hub, "PSB@350582", SigningKey(mib_key_id, SigningKey.generate().private))
    producer = KafkaProducer(bootstrap_servers=hub.state.bootstrap, acks="all")
    producer.send(INGRESS.name, raw).get(10)
    producer.close()
    assert dead_letter_of(hub, env.message_id)["reason"] == "bad_signature"
    return env.message_id


def test_rules_evaluate_on_the_hubs_metrics_and_a_forgery_fires(
    hub: HubProcess, prometheus: str
) -> None:
    forge(hub)  # the counter exists before Prometheus first reads it: the next one is a rise

    def scraped() -> bool:
        try:
            targets = api(prometheus, "targets")["activeTargets"]
        except OSError:
            return False  # not listening yet
        return len(targets) == 2 and all(t["health"] == "up" for t in targets)

    wait_until(scraped, timeout=60, what="Prometheus scraping the hub")
    time.sleep(2.5)  # a few samples of the counter at its first value
    forge(hub)

    def forgery_alert() -> list[dict[str, Any]]:
        return [
            a
            for a in api(prometheus, "alerts")["alerts"]
            if a["labels"]["alertname"] == "HubSuspectedForgery"
        ]

    wait_until(lambda: bool(forgery_alert()), timeout=60, what="HubSuspectedForgery firing")
    alert = forgery_alert()[0]
    assert alert["state"] == "firing"
    assert alert["labels"]["reason"] == "bad_signature"
    assert alert["labels"]["sender_agency"] == "MIB"
    assert alert["labels"]["severity"] == "page"

    groups = api(prometheus, "rules")["groups"]
    assert {g["name"] for g in groups} == {
        g["name"] for g in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    }
    broken = [
        (r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] == "err"
    ]
    assert broken == []
    # The router is ready and the sink keeps up, so their alerts are quiet.
    firing = {a["labels"]["alertname"] for a in api(prometheus, "alerts")["alerts"]}
    assert not firing & {"HubRouterNotReady", "HubRouterDown", "HubAuditSinkBehind"}
    sink = api(prometheus, "query?query=hub_audit_head_seq")["result"]
    assert sink and float(sink[0]["value"][1]) > 0  # the sink's own metrics were read too
