"""The routing policy (hub.routing.policy) and inbox resolution (hub.routing.resolve), no broker."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.core.paths import PACKAGE_DATA
from hub.routing.policy import Policy, PolicyError, load_policy, parse_policy
from hub.routing.resolve import Route, resolve
from hub.trust.address import Address
from hub.trust.agencies import AGENCIES
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.wire.families import FAMILIES

POLICY_FILE = PACKAGE_DATA / "policy.yaml"
RULES: list[dict[str, Any]] = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))["rules"]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY_FILE, set(FAMILIES))


def a(text: str) -> Address:
    return Address.parse(text)


def expand(side: list[str]) -> list[str]:
    return sorted(AGENCIES) if "*" in side else side


#: (sender region, recipient region) pairs that satisfy each region rule.
REGION_EXAMPLES = {
    "any": [("350582", "350582"), ("350582", "350500"), ("350000", "420112")],
    "downward": [("350500", "350582"), ("350000", "350582"), ("350000", "350500")],
    "upward": [("350582", "350500"), ("350582", "350000")],
    "same": [("350582", "350582"), ("350500", "350500")],
}


# -- the packaged policy ------------------------------------------------------------------------


def test_packaged_policy_loads_and_covers_every_family(policy: Policy) -> None:
    assert len(policy.rules) == len(RULES)
    # Replies are governed by the ledger and SLA events are raised by the hub, not by policy.
    originals = {f.name for f in FAMILIES.values() if not f.is_reply and not f.hub_only}
    assert originals <= {r.family for r in policy.rules} <= set(FAMILIES)


@pytest.mark.parametrize("index", range(len(RULES)), ids=[str(r) for r in RULES])
def test_every_flow_in_the_policy_file_is_allowed(policy: Policy, index: int) -> None:
    rule = RULES[index]
    regions = rule.get("regions", "any")
    for sender, recipient in itertools.product(expand(rule["from"]), expand(rule["to"])):
        for s_region, r_region in REGION_EXAMPLES[regions]:
            violation = policy.violation(
                rule["family"], Address(sender, s_region), Address(recipient, r_region)
            )
            assert violation is None, violation


def test_every_agency_pair_outside_the_file_is_forbidden(policy: Policy) -> None:
    allowed = {
        (r["family"], s, t) for r in RULES for s in expand(r["from"]) for t in expand(r["to"])
    }
    forbidden = 0
    for fam, sender, recipient in itertools.product(FAMILIES, AGENCIES, AGENCIES):
        if (fam, sender, recipient) in allowed:
            continue
        violation = policy.violation(fam, Address(sender, "350582"), Address(recipient, "350582"))
        assert violation is not None, (fam, sender, recipient)
        forbidden += 1
    assert forbidden > 300  # most of the 5 × 9 × 9 combinations


def test_mib_may_not_refer_a_case_to_the_court(policy: Policy) -> None:
    violation = policy.violation("case_referral", a("MIB@350582"), a("COURT@350582"))
    assert violation is not None
    assert "MIB@350582 may not send case_referral to COURT@350582" in violation
    assert "MIB→PSB" in violation and "PSB→PROC" in violation and "PROC→COURT" in violation


def test_health_may_not_send_a_clue_to_the_police(policy: Policy) -> None:
    violation = policy.violation("clue_transfer", a("HEALTH@350582"), a("PSB@350582"))
    assert violation is not None
    assert violation.startswith("HEALTH@350582 may not send clue_transfer to PSB@350582")
    assert "MIB→HEALTH/PROC/PSB/SAMR" in violation


def test_mib_clues_go_down_the_hierarchy_only(policy: Policy) -> None:
    assert policy.violation("clue_transfer", a("MIB@350500"), a("MIB@350582")) is None
    assert policy.violation("clue_transfer", a("MIB@350000"), a("MIB@350582")) is None
    for sender, recipient in [
        ("MIB@350582", "MIB@350500"),  # upward
        ("MIB@350582", "MIB@350000"),
        ("MIB@350582", "MIB@350582"),  # same region is not strictly below
        ("MIB@350500", "MIB@420112"),  # another province's county
        ("MIB@350600", "MIB@350582"),  # a sibling city's county
    ]:
        violation = policy.violation("clue_transfer", a(sender), a(recipient))
        assert violation is not None, (sender, recipient)
        assert "MIB→MIB (downward)" in violation


def test_corruption_handoff_from_any_agency_to_cdi_only(policy: Policy) -> None:
    for agency in AGENCIES:
        sender = Address(agency, "350582")
        for cdi in ("CDI@350582", "CDI@350500", "CDI@350000"):
            assert policy.violation("corruption_clue_handoff", sender, a(cdi)) is None
        violation = policy.violation("corruption_clue_handoff", sender, a("MIB@350582"))
        assert violation is not None
        assert "*→CDI" in violation


def test_invoice_request_and_result_go_opposite_ways(policy: Policy) -> None:
    mib, fin = a("MIB@350582"), a("FIN@350582")
    assert policy.violation("invoice_verification_request", mib, fin) is None
    assert policy.violation("invoice_verification_result", fin, mib) is None
    assert policy.violation("invoice_verification_request", fin, mib) is not None
    assert policy.violation("invoice_verification_result", mib, fin) is not None


def test_unknown_family_has_no_rule(policy: Policy) -> None:
    violation = policy.violation("gossip", a("MIB@350582"), a("PSB@350582"))
    assert violation == "no rule allows family gossip"


def test_allowed_pairs_lists_every_rule(policy: Policy) -> None:
    pairs = policy.allowed_pairs()
    assert ("case_referral", "MIB", "PSB", "any") in pairs
    assert ("clue_transfer", "MIB", "MIB", "downward") in pairs
    assert ("corruption_clue_handoff", "*", "CDI", "any") in pairs
    assert len(pairs) == len(RULES)


@pytest.mark.parametrize("rule", ["same", "upward"])
def test_same_and_upward_region_rules(rule: str) -> None:
    p = parse_policy(
        {"rules": [{"family": "f", "from": ["MIB"], "to": ["MIB"], "regions": rule}]}, "t"
    )
    same = p.violation("f", a("MIB@350582"), a("MIB@350582")) is None
    up = p.violation("f", a("MIB@350582"), a("MIB@350500")) is None
    down = p.violation("f", a("MIB@350500"), a("MIB@350582")) is None
    assert (same, up, down) == ((True, False, False) if rule == "same" else (False, True, False))


# -- parse errors --------------------------------------------------------------------------------


def rule(**item: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"family": "clue_transfer", "from": ["MIB"], "to": ["PSB"]}
    base.update(item)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"rules": [rule(to=["POLICE"])]}, "unknown agency code(s) ['POLICE'] in 'to'"),
        ({"rules": [rule(**{"from": ["mib"]})]}, "unknown agency code(s) ['mib'] in 'from'"),
        ({"rules": [rule(family="gossip")]}, "unknown family 'gossip'"),
        ({"rules": [rule(family=None)]}, "unknown family None"),
        ({"rules": [rule(regions="sideways")]}, "regions must be one of"),
        ({"rules": [rule(regions=["downward"])]}, "regions must be one of"),
        ({"rules": [rule(priority=1)]}, "unknown key(s) ['priority']"),
        ({"rules": [rule(to=[])]}, "'to' must be a non-empty list"),
        ({"rules": [rule(to="PSB")]}, "'to' must be a non-empty list"),
        ({"rules": ["clue_transfer MIB PSB"]}, "rule 1: expected a mapping"),
        ({"rules": {"family": "clue_transfer"}}, "expected a mapping with a 'rules' list"),
        ([], "expected a mapping with a 'rules' list"),
        (None, "expected a mapping with a 'rules' list"),
    ],
)
def test_parse_errors_name_the_problem(data: Any, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(data, "test.yaml", set(FAMILIES))
    assert fragment in str(info.value)
    assert str(info.value).startswith("test.yaml")


def test_parse_error_names_the_rule_number() -> None:
    data = {"rules": [rule(), rule(), rule(to=["NOPE"])]}
    with pytest.raises(PolicyError, match="rule 3: unknown agency"):
        parse_policy(data, "p.yaml", set(FAMILIES))


def test_without_a_family_list_any_family_name_is_accepted() -> None:
    p = parse_policy({"rules": [rule(family="future_family")]}, "p.yaml")
    assert p.violation("future_family", a("MIB@350582"), a("PSB@350582")) is None


def test_load_policy_reports_bad_yaml_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("rules: [ {family: clue_transfer\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=re.escape(str(bad))):
        load_policy(bad)
    with pytest.raises(PolicyError, match=r"nope\.yaml"):
        load_policy(tmp_path / "nope.yaml")


def test_load_policy_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "rules:\n  - {family: case_referral, from: [PROC], to: [COURT], regions: same}\n",
        encoding="utf-8",
    )
    p = load_policy(path, set(FAMILIES))
    assert p.violation("case_referral", a("PROC@350582"), a("COURT@350582")) is None
    assert p.violation("case_referral", a("PROC@350582"), a("COURT@350500")) is not None
    assert p.violation("case_referral", a("MIB@350582"), a("PSB@350582")) is not None


# -- routing ---------------------------------------------------------------------------------


def directory_of(*addresses: str) -> Directory:
    d = Directory()
    for text in addresses:
        d = d.with_key(a(text), SigningKey.generate())
    return d


TOPIC = re.compile(r"^hub\.inbox\.(?P<agency>[A-Z]+)\.(?P<region>[1-9][0-9]{5})$")


def test_exact_connector_is_used_directly() -> None:
    d = directory_of("PSB@350582", "PSB@350500", "PSB@350000")
    route = resolve(d, a("PSB@350582"))
    assert route == Route(a("PSB@350582"), "hub.inbox.PSB.350582", fallback=False)
    assert route.via == "direct"


def test_county_falls_back_to_its_city() -> None:
    d = directory_of("PSB@350500", "PSB@350000", "MIB@350582")
    route = resolve(d, a("PSB@350582"))
    assert route == Route(a("PSB@350500"), "hub.inbox.PSB.350500", fallback=True)
    assert route.via == "fallback"


def test_county_falls_back_to_its_province_when_the_city_is_missing() -> None:
    d = directory_of("PSB@350000")
    route = resolve(d, a("PSB@350582"))
    assert route is not None
    assert (route.inbox, route.topic, route.fallback) == (
        a("PSB@350000"),
        "hub.inbox.PSB.350000",
        True,
    )
    city = resolve(d, a("PSB@350500"))
    assert city is not None and city.inbox == a("PSB@350000") and city.fallback


def test_municipality_county_falls_back_to_the_municipality() -> None:
    route = resolve(directory_of("CDI@500000"), a("CDI@500235"))
    assert route is not None and route.inbox == a("CDI@500000") and route.fallback


@pytest.mark.parametrize(
    ("registered", "recipient"),
    [
        ((), "PSB@350582"),
        (("MIB@350582", "HEALTH@350582"), "PSB@350582"),  # never another agency
        (("PSB@350581",), "PSB@350582"),  # never a sibling county
        (("PSB@350600",), "PSB@350582"),  # never another city
        (("PSB@420000",), "PSB@350582"),  # never another province
        (("PSB@350582",), "PSB@350500"),  # never downward
        (("PSB@350582", "PSB@350500"), "PSB@350000"),
    ],
)
def test_no_route(registered: tuple[str, ...], recipient: str) -> None:
    assert resolve(directory_of(*registered), a(recipient)) is None


def test_every_recipient_resolves_to_exactly_one_inbox_topic() -> None:
    registered = [
        "MIB@350582",
        "MIB@350500",
        "MIB@350000",
        "PSB@350500",
        "CDI@350000",
        "FIN@350582",
        "HEALTH@420112",
        "COURT@420100",
    ]
    d = directory_of(*registered)
    # Each region's supervising levels, nearest first, written out by hand.
    ladders = {
        "350582": ["350582", "350500", "350000"],
        "350581": ["350581", "350500", "350000"],
        "350500": ["350500", "350000"],
        "350600": ["350600", "350000"],
        "350000": ["350000"],
        "420112": ["420112", "420100", "420000"],
        "420100": ["420100", "420000"],
        "500235": ["500235", "500200", "500000"],
    }
    topics_by_inbox: dict[Address, set[str]] = {}
    for agency, (region, ladder) in itertools.product(AGENCIES, ladders.items()):
        recipient = Address(agency, region)
        route = resolve(d, recipient)
        expected = next((Address(agency, r) for r in ladder if d.has(Address(agency, r))), None)
        if expected is None:
            assert route is None, recipient
            continue
        assert route is not None, recipient
        assert route.inbox == expected, recipient
        assert route.fallback == (expected != recipient)
        m = TOPIC.fullmatch(route.topic)
        assert m, route.topic
        assert (m["agency"], m["region"]) == (route.inbox.agency, route.inbox.region)
        topics_by_inbox.setdefault(route.inbox, set()).add(route.topic)
    assert all(len(topics) == 1 for topics in topics_by_inbox.values())
    all_topics = [t for topics in topics_by_inbox.values() for t in topics]
    assert len(all_topics) == len(set(all_topics))  # one inbox, one topic, no sharing
    assert set(topics_by_inbox) <= {a(t) for t in registered}
    assert len(topics_by_inbox) >= 6
