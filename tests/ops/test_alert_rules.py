"""The alert rules of ops/prometheus: valid, each one tested by promtool, and each one about
metrics the hub really exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.promql import exported, metric_names

OPS = Path(__file__).resolve().parents[2] / "ops" / "prometheus"
RULES = OPS / "alerts.yml"
RULE_TESTS = OPS / "alerts_test.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: `./dev test` installs Debian's prometheus package")
    return found


def rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_finds_the_rules_and_the_scrape_config_valid() -> None:
    for args in (["check", "rules", str(RULES)], ["check", "config", str(OPS / "prometheus.yml")]):
        done = subprocess.run([promtool(), *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_of_every_rule_pass() -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_every_alert_has_a_test_where_it_fires_and_one_where_it_does_not() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = {str(rule["alert"]) for rule in rules() if "alert" in rule}
    assert alerts - fired == set(), "alerts never shown firing"
    assert alerts - quiet == set(), "alerts never shown staying quiet"


def test_alerts_read_only_metrics_the_hub_exports() -> None:
    recorded = {str(rule["record"]) for rule in rules() if "record" in rule}
    used: set[str] = set()
    for rule in rules():
        used |= metric_names(str(rule["expr"]))
    assert used - exported() - recorded == set()


def test_alert_texts_name_agencies_and_reasons_never_a_person() -> None:
    allowed = {"debtor_agency", "sender_agency", "recipient", "family", "stage", "reason"}
    allowed |= {"instance", "connector", "use", "task"}  # task: a periodic job of the hub
    for rule in rules():
        for text in dict(rule.get("annotations", {})).values():  # type: ignore[call-overload]
            assert set(re.findall(r"\$labels\.(\w+)", text)) <= allowed, rule.get("alert")
