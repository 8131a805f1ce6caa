"""The hub's Grafana dashboard, built with Grafana's own Foundation SDK.

    .venv/bin/python ops/grafana/dashboard.py            # writes ops/grafana/hub.json
    .venv/bin/python ops/grafana/dashboard.py --check    # fails if hub.json is out of date

Import hub.json into Grafana (Dashboards → New → Import) and pick the Prometheus data source
that scrapes the jobs of ops/prometheus/prometheus.yml.  tests/ops/test_dashboard.py checks the
file is what this script makes and that every query reads a metric the hub exports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    Row,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.table import Panel as Table
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUT = Path(__file__).with_name("hub.json")
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")


def q(expr: str, legend: str = "", *, instant: bool = False) -> Dataquery:
    query = Dataquery().expr(expr).datasource(DS)
    if legend:
        query = query.legend_format(legend)
    if instant:
        query = query.instant().format("table")
    return query


def series(title: str, unit: str, *queries: Dataquery, width: int = 12) -> Timeseries:
    panel = Timeseries().title(title).unit(unit).datasource(DS).height(8).span(width)
    for ref, query in zip("ABCDEFGH", queries, strict=False):
        panel = panel.with_target(query.ref_id(ref))
    return panel


def stat(title: str, expr: str, unit: str = "none") -> Stat:
    panel = Stat().title(title).unit(unit).datasource(DS).height(4).span(4)
    return panel.with_target(q(expr).ref_id("A"))


def build() -> Dashboard:
    rate = "[$__rate_interval]"
    return (
        Dashboard("医保基金监管数据共享枢纽 · Interagency hub")
        .uid("interagency-hub")
        .tags(["hub", "generated"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("Asia/Shanghai")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_row(Row("总览 Overview"))
        .with_panel(stat("Routers ready", "sum(hub_router_ready)"))
        .with_panel(stat("Ingress lag (records)", 'sum(hub_consumer_lag{topic="hub.ingress"})'))
        .with_panel(
            stat(
                "Receipts on time (30 d)",
                'sum(increase(hub_receipts_total{on_time="true"}[30d])) '
                "/ sum(increase(hub_receipts_total[30d]))",
                "percentunit",
            )
        )
        .with_row(Row("吞吐 Throughput"))
        .with_panel(
            series(
                "Delivered per second, by family",
                "reqps",
                q(f"sum by (family) (rate(hub_messages_routed_total{rate}))", "{{family}}"),
            )
        )
        .with_panel(
            series(
                "Delivered per second, by agency pair",
                "reqps",
                q(
                    "sum by (sender_agency, recipient_agency) "
                    f"(rate(hub_messages_routed_total{rate}))",
                    "{{sender_agency}} → {{recipient_agency}}",
                ),
            )
        )
        .with_row(Row("延迟 Latency"))
        .with_panel(
            series(
                "Router time per record (p50, p99)",
                "s",
                q(
                    f"histogram_quantile(0.5, sum by (le) (rate(hub_route_seconds_bucket{rate})))",
                    "p50",
                ),
                q(
                    f"histogram_quantile(0.99, sum by (le) (rate(hub_route_seconds_bucket{rate})))",
                    "p99",
                ),
            )
        )
        .with_panel(
            series(
                "Time to receipt 签收 (p50, p90), by family",
                "s",
                q(
                    "histogram_quantile(0.5, sum by (le, family) "
                    "(rate(hub_time_to_receipt_seconds_bucket[1h])))",
                    "p50 {{family}}",
                ),
                q(
                    "histogram_quantile(0.9, sum by (le, family) "
                    "(rate(hub_time_to_receipt_seconds_bucket[1h])))",
                    "p90 {{family}}",
                ),
            )
        )
        .with_row(Row("时限 SLA"))
        .with_panel(
            series(
                "Open obligations, by stage",
                "short",
                q("sum by (stage) (max without (instance) (hub_open_obligations))", "{{stage}}"),
            )
        )
        .with_panel(
            series(
                "Warnings, breaches, escalations per hour, by agency",
                "short",
                q(
                    "sum by (debtor_agency) (increase(hub_sla_warnings_total[1h]))",
                    "warn {{debtor_agency}}",
                ),
                q(
                    "sum by (debtor_agency) (increase(hub_sla_breaches_total[1h]))",
                    "breach {{debtor_agency}}",
                ),
                q(
                    "sum by (debtor_agency) (increase(hub_sla_escalations_total[1h]))",
                    "escalation {{debtor_agency}}",
                ),
            )
        )
        .with_panel(
            series(
                "Receipt SLO: late share (5 m, 1 h, 6 h windows)",
                "percentunit",
                q("hub:receipt_errors:ratio_rate5m", "5m"),
                q("hub:receipt_errors:ratio_rate1h", "1h"),
                q("hub:receipt_errors:ratio_rate6h", "6h"),
            )
        )
        .with_panel(
            series(
                "Oldest hand-off not signed for, per recipient",
                "s",
                q("max by (recipient) (hub_unreceived_oldest_seconds)", "{{recipient}}"),
            )
        )
        .with_row(Row("死信 Dead letters"))
        .with_panel(
            series(
                "Dead letters per hour, by reason",
                "short",
                q("sum by (reason) (increase(hub_messages_dead_lettered_total[1h]))", "{{reason}}"),
            )
        )
        .with_panel(
            Table()
            .title("Dead letters in the last 24 h, by reason and sender")
            .datasource(DS)
            .height(8)
            .span(12)
            .with_target(
                q(
                    "sum by (reason, sender_agency) "
                    "(increase(hub_messages_dead_lettered_total[24h])) > 0",
                    instant=True,
                ).ref_id("A")
            )
        )
        .with_row(Row("审计 Audit"))
        .with_panel(
            series(
                "Audit chain head and sink lag",
                "short",
                q("max(hub_audit_head_seq)", "head seq"),
                q("max(hub_audit_sink_lag)", "sink lag"),
            )
        )
        .with_panel(
            series(
                "Audit events per second, by kind; quarantined",
                "reqps",
                q(f"sum by (kind) (rate(hub_audit_events_total{rate}))", "{{kind}}"),
                q(f"sum(rate(hub_audit_quarantined_total{rate}))", "quarantined"),
            )
        )
        .with_panel(
            series(
                "Keys: days until rotation is due",
                "d",
                q(
                    "min by (connector, use) (hub_key_expiry_timestamp_seconds - time()) / 86400",
                    "{{connector}} {{use}}",
                ),
                width=24,
            )
        )
    )


def render() -> str:
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run {Path(__file__).name} to remake it", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
