"""The routing policy: which sender agency may send which family to which recipient agency.

Loaded from a data file (``hub/data/policy.yaml`` by default); :func:`violation` is pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hub.core.errors import ConfigError
from hub.trust.address import Address
from hub.trust.agencies import AGENCIES
from hub.trust.regions import is_within
from hub.trust.suites import SUITES

REGION_RULES = ("any", "downward", "upward", "same")
SUITE_NAMES = frozenset(SUITES)


class PolicyError(ConfigError):
    """The policy file is malformed."""


@dataclass(frozen=True)
class Rule:
    family: str
    senders: frozenset[str]  # agency codes, or {"*"}
    recipients: frozenset[str]
    regions: str = "any"

    def matches(self, family: str, sender: Address, recipient: Address) -> bool:
        return (
            family == self.family
            and ("*" in self.senders or sender.agency in self.senders)
            and ("*" in self.recipients or recipient.agency in self.recipients)
            and region_relation_holds(self.regions, sender.region, recipient.region)
        )


def region_relation_holds(rule: str, sender_region: str, recipient_region: str) -> bool:
    if rule == "downward":
        return is_within(recipient_region, sender_region)
    if rule == "upward":
        return is_within(sender_region, recipient_region)
    if rule == "same":
        return sender_region == recipient_region
    return True


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    #: Hand-offs whose closure must carry a processing report (处理报告): rules over the
    #: original's family, sender and recipient, as above.
    report_rules: tuple[Rule, ...] = ()
    #: Flows that must travel under a given suite (``suites:``): (rule, suite name).
    suite_rules: tuple[tuple[Rule, str], ...] = ()

    def required_suite(self, family: str, sender: Address, recipient: Address) -> str | None:
        """The suite this flow must travel under, if a ``suites`` rule names one."""
        for rule, suite in self.suite_rules:
            if rule.matches(family, sender, recipient):
                return suite
        return None

    def suite_violation(
        self, family: str, sender: Address, recipient: Address, used: Iterable[str]
    ) -> str | None:
        """None when every suite ``used`` (the signature's; the encryption's, if any) is the
        one the policy requires of this flow, or none is required; else why not."""
        required = self.required_suite(family, sender, recipient)
        wrong = sorted({u for u in used if required is not None and u != required})
        if not wrong:
            return None
        return (
            f"{family} from {sender} to {recipient} must travel under the {required} suite; "
            f"it came under {', '.join(wrong)}"
        )

    def processing_report_required(self, family: str, sender: Address, recipient: Address) -> bool:
        """Whether closing this hand-off (``family`` from ``sender`` to ``recipient``; an empty
        family matches any) needs a processing report."""
        return any(r.matches(family or r.family, sender, recipient) for r in self.report_rules)

    def violation(self, family: str, sender: Address, recipient: Address) -> str | None:
        """None when some rule allows the flow, else a sentence saying why not."""
        if any(r.matches(family, sender, recipient) for r in self.rules):
            return None
        near = [r for r in self.rules if r.family == family]
        if not near:
            return f"no rule allows family {family}"
        allowed = "; ".join(
            f"{'/'.join(sorted(r.senders))}→{'/'.join(sorted(r.recipients))}"
            + ("" if r.regions == "any" else f" ({r.regions})")
            for r in near
        )
        return f"{sender} may not send {family} to {recipient}; allowed: {allowed}"

    def allowed_pairs(self) -> list[tuple[str, str, str, str]]:
        return [
            (r.family, "/".join(sorted(r.senders)), "/".join(sorted(r.recipients)), r.regions)
            for r in self.rules
        ]


def parse_policy(data: object, source: str, families: set[str] | None = None) -> Policy:
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise PolicyError(f"{source}: expected a mapping with a 'rules' list")
    reports = data.get("processing_reports", [])
    if not isinstance(reports, list):
        raise PolicyError(f"{source}: 'processing_reports' must be a list of rules")
    required = data.get("suites", [])
    if not isinstance(required, list):
        raise PolicyError(f"{source}: 'suites' must be a list of rules")
    plain = []
    for i, item in enumerate(required, start=1):
        if not isinstance(item, dict) or item.get("require") not in SUITE_NAMES:
            raise PolicyError(
                f"{source}: suites rule {i}: 'require' must be one of {sorted(SUITE_NAMES)}"
            )
        plain.append({k: v for k, v in item.items() if k != "require"})
    suite_rules = tuple(
        (rule, str(item["require"]))
        for rule, item in zip(_rules(plain, source, "suites rule", families), required, strict=True)
    )
    return Policy(
        _rules(data["rules"], source, "rule", families),
        _rules(reports, source, "processing_reports rule", families),
        suite_rules,
    )


def _rules(items: list[Any], source: str, what: str, families: set[str] | None) -> tuple[Rule, ...]:
    rules = []
    valid_agencies = set(AGENCIES) | {"*"}
    for i, item in enumerate(items, start=1):
        where = f"{source}: {what} {i}"
        if not isinstance(item, dict):
            raise PolicyError(f"{where}: expected a mapping")
        unknown = set(item) - {"family", "from", "to", "regions"}
        if unknown:
            raise PolicyError(f"{where}: unknown key(s) {sorted(unknown)}")
        family = item.get("family")
        if not isinstance(family, str) or (families is not None and family not in families):
            raise PolicyError(f"{where}: unknown family {family!r}")
        sides = {}
        for key in ("from", "to"):
            value = item.get(key)
            if not isinstance(value, list) or not value:
                raise PolicyError(f"{where}: '{key}' must be a non-empty list of agency codes")
            bad = [a for a in value if a not in valid_agencies]
            if bad:
                raise PolicyError(f"{where}: unknown agency code(s) {bad} in '{key}'")
            sides[key] = frozenset(value)
        regions = item.get("regions", "any")
        if regions not in REGION_RULES:
            raise PolicyError(f"{where}: regions must be one of {REGION_RULES}, not {regions!r}")
        rules.append(Rule(family, sides["from"], sides["to"], regions))
    return tuple(rules)


def load_policy(path: Path, families: set[str] | None = None) -> Policy:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: {exc}") from exc
    return parse_policy(data, str(path), families)
