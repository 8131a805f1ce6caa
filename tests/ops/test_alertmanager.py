"""Alertmanager's routing of the hub's alerts (ops/prometheus/alertmanager.yml), as amtool
resolves it: every alert of alerts.yml reaches whom it should, and inhibitions name real alerts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

OPS = Path(__file__).resolve().parents[2] / "ops" / "prometheus"
CONFIG = OPS / "alertmanager.yml"
SLA = re.compile(r"HubSla.*|HubFlightInspectionFlagged|HubUnreceived.*")


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("amtool")
    if found is None:
        pytest.fail("amtool is missing: `./dev test` installs Debian's prometheus-alertmanager")
    return subprocess.run([found, *args], capture_output=True, text=True, check=False)


def alerts() -> dict[str, str]:
    groups = yaml.safe_load((OPS / "alerts.yml").read_text(encoding="utf-8"))["groups"]
    return {r["alert"]: r["labels"]["severity"] for g in groups for r in g["rules"] if "alert" in r}


def test_amtool_finds_the_configuration_valid() -> None:
    done = amtool("check-config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("alert", sorted(alerts()))
def test_each_alert_reaches_on_call_the_supervision_desk_or_the_ticket_queue(alert: str) -> None:
    severity = alerts()[alert]
    expected = []
    if severity == "page":
        expected.append("on-call")
    if SLA.fullmatch(alert):
        expected.append("supervision-desk")
    if not expected:
        expected.append("ops-tickets")
    done = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        f"--verify.receivers={','.join(expected)}",
        f"alertname={alert}",
        f"severity={severity}",
        "debtor_agency=PSB",
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_inhibitions_name_alerts_that_exist_and_labels_both_carry() -> None:
    rules = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["inhibit_rules"]
    names = set(alerts())
    for rule in rules:
        for side in ("source_matchers", "target_matchers"):
            for matcher in rule[side]:
                found = re.fullmatch(r'alertname="(\w+)"', matcher)
                assert found and found.group(1) in names, matcher
