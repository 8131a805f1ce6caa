"""Both suites in one directory, and a policy that requires gm for a flow: the router delivers
what each suite signs and seals, and refuses with its own reason a message of a flow the policy
keeps to gm that was signed or sealed under intl."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.core.paths import PACKAGE_DATA
from hub.routing.policy import PolicyError, load_policy, parse_policy
from hub.routing.router import Delivered, Rejected, Router
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.e2e import EncryptionKey
from hub.trust.keys import SigningKey
from hub.wire.deadletter import Reason
from hub.wire.families import FAMILIES
from hub.wire.signing import SIG_SM2
from tests.routing.test_router_decisions import World

#: Who is on which suite: the city bureau and the county's discipline commission migrated.
SUITE_OF = {"MIB@350500": "gm", "CDI@350582": "gm", "PSB@350582": "gm"}
REQUIRE_GM = [{"family": "corruption_clue_handoff", "from": ["*"], "to": ["CDI"], "require": "gm"}]


class MixedWorld(World):
    def __init__(self, *, require_gm: bool) -> None:
        super().__init__()
        directory = Directory()
        for address in list(self.keys):
            suite = SUITE_OF.get(str(address), "intl")
            self.keys[address] = SigningKey.generate(suite)
            self.decryption[address] = EncryptionKey.generate(suite)
            directory = directory.with_key(address, self.keys[address], name=str(address))
            directory = directory.with_encryption_key(address, self.decryption[address])
        self.directory = directory
        policy = load_policy(PACKAGE_DATA / "policy.yaml", set(FAMILIES))
        if require_gm:
            rules = parse_policy({"rules": [], "suites": REQUIRE_GM}, "test", set(FAMILIES))
            policy = replace(policy, suite_rules=rules.suite_rules)
        self.policy = policy
        self.router = Router(self.registry, lambda: self.directory, self.policy)


@pytest.fixture(scope="module")
def mixed() -> MixedWorld:
    return MixedWorld(require_gm=True)


def test_each_suite_signs_and_seals_what_the_router_delivers(mixed: MixedWorld) -> None:
    for fam, sender, recipient in [
        ("clue_transfer", "MIB@350500", "PSB@350500"),  # gm signs, intl receives
        ("clue_transfer", "MIB@350582", "PSB@350582"),  # intl signs, gm receives
        ("case_referral", "MIB@350582", "PSB@350582"),
        ("invoice_verification_request", "MIB@350582", "FIN@350582"),
    ]:
        env, raw = mixed.seal(fam, sender, recipient)
        decision = mixed.router.decide(raw)
        assert isinstance(decision, Delivered), (fam, sender, decision)
    env, _ = mixed.seal("clue_transfer", "MIB@350500", "PSB@350500")
    assert env.signature_scheme == SIG_SM2 and env.signing_key_id.startswith("sm2:")


def test_a_flow_kept_to_gm_is_delivered_signed_and_sealed_under_gm(mixed: MixedWorld) -> None:
    env, raw = mixed.seal("corruption_clue_handoff", "MIB@350500", "CDI@350582")
    assert env.encryption is not None and env.encryption["scheme"] == "sm2-wrapped-sm4gcm"
    assert isinstance(mixed.router.decide(raw), Delivered)


def test_a_flow_kept_to_gm_signed_under_intl_is_refused_with_its_own_reason(
    mixed: MixedWorld,
) -> None:
    _, raw = mixed.seal("corruption_clue_handoff", "MIB@350582", "CDI@350582")
    decision = mixed.router.decide(raw)
    assert isinstance(decision, Rejected) and decision.reason == Reason.SUITE_FORBIDDEN
    assert "must travel under the gm suite" in decision.detail and "intl" in decision.detail


def test_a_seal_of_another_suite_than_the_recipients_key_is_not_delivered() -> None:
    free = MixedWorld(require_gm=False)
    cdi = Address.parse("CDI@350582")
    target = (free.decryption[cdi].key_id, EncryptionKey.generate("intl").public)
    _, raw = free.seal("corruption_clue_handoff", "MIB@350500", str(cdi), encrypt=False,
                       encrypt_to=target)  # fmt: skip
    decision = free.router.decide(raw)
    assert isinstance(decision, Rejected) and decision.reason == Reason.ENCRYPTION_MISMATCH


def test_without_the_rule_either_suite_may_carry_the_flow() -> None:
    free = MixedWorld(require_gm=False)
    _, raw = free.seal("corruption_clue_handoff", "MIB@350582", "CDI@350582")
    assert isinstance(free.router.decide(raw), Delivered)
    assert (
        free.policy.required_suite(
            "corruption_clue_handoff", Address.parse("MIB@350582"), Address.parse("CDI@350582")
        )
        is None
    )


def test_a_suites_rule_must_name_a_known_suite() -> None:
    with pytest.raises(PolicyError, match="'require' must be one of"):
        parse_policy({"rules": [], "suites": [{**REQUIRE_GM[0], "require": "rsa"}]}, "t")
