"""What the ops files' PromQL reads: metric names, for checking them against what is exported."""

from __future__ import annotations

import re

from prometheus_client import REGISTRY

import connectors.receiving
import connectors.responders.finance  # noqa: F401
import consumers.audit_sink  # noqa: F401
import hub.runtime.metrics  # noqa: F401

#: PromQL functions, keywords and Prometheus's own series the files use.
WORDS = {"sum", "by", "max", "min", "without", "increase", "rate", "changes", "and", "on", "or"}
WORDS |= {"time", "up", "histogram_quantile", "le"}


def exported() -> set[str]:
    """Every series name the hub's processes export (counters with and without ``_total``)."""
    names: set[str] = set()
    for metric in REGISTRY.collect():
        names.add(metric.name)
        # A labelled histogram has no samples until a label value was seen.
        if metric.type == "histogram":
            names |= {f"{metric.name}_{part}" for part in ("bucket", "sum", "count")}
        for sample in metric.samples:
            names.add(sample.name)
    return names | {f"{n}_total" for n in names}


def metric_names(expr: str) -> set[str]:
    """Names in ``expr`` that are neither functions, labels nor numbers."""
    expr = re.sub(r'"[^"]*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^]]*\]", "", expr)  # range durations
    expr = re.sub(r"\b(by|without|on)\s*\([^)]*\)", "", expr)  # label lists
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {w for w in words - WORDS if not re.fullmatch(r"e\d+|\$__\w+", w)}
