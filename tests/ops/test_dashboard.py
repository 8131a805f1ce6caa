"""The Grafana dashboard of ops/grafana: what its generator makes, laid out without overlaps,
querying only what the hub exports (or the alert rules record)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.ops.promql import exported, metric_names

OPS = Path(__file__).resolve().parents[2] / "ops"
DASHBOARD = OPS / "grafana" / "hub.json"


def panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]]


def test_the_checked_in_dashboard_is_what_its_generator_makes() -> None:
    done = subprocess.run(
        [sys.executable, str(OPS / "grafana" / "dashboard.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_query_reads_a_metric_the_hub_exports_or_a_recorded_rule() -> None:
    groups = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    recorded = {r["record"] for g in groups["groups"] for r in g["rules"] if "record" in r}
    used: set[str] = set()
    for panel in panels():
        for target in panel.get("targets", []):
            used |= metric_names(target["expr"])
    assert used, "no queries found"
    assert used - exported() - recorded == set()


def test_panels_cover_throughput_latency_sla_dead_letters_and_audit_without_overlapping() -> None:
    rows = [p["title"] for p in panels() if p["type"] == "row"]
    assert [r.split(" ", 1)[1] for r in rows] == [
        "Overview",
        "Throughput",
        "Latency",
        "SLA",
        "Dead letters",
        "Audit",
    ]
    taken: set[tuple[int, int]] = set()
    for panel in panels():
        pos = panel["gridPos"]
        cells = {(pos["x"] + dx, pos["y"] + dy) for dx in range(pos["w"]) for dy in range(pos["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        assert pos["x"] + pos["w"] <= 24
        taken |= cells
        refs = [t["refId"] for t in panel.get("targets", [])]
        assert len(refs) == len(set(refs)) and all(refs), panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
