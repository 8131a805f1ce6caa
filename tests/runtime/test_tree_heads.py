"""Signed tree heads of the audit log reach every connector, and each connector, keeping the last
one it checked, catches a log the hub host rewrote.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.messages import open_record
from connectors.witness import KeptHead, TreeHeadMismatch, TreeHeadWitness, check_head
from hub.audit.events import AuditEvent
from hub.audit.store import AuditStore
from hub.audit.transparency import ORIGIN, signed_checkpoint
from hub.core import merkle
from hub.runtime.tree_heads import TreeHeadPublisher, message_id
from hub.storage.tree_heads import TreeHeads
from hub.trust.address import Address
from hub.trust.keys import SigningKey
from hub.trust.operators import OPERATORS
from tests.runtime.test_ingress_pipeline import Rig

T0 = datetime(2026, 12, 1, tzinfo=UTC)
PSB = Address.parse("PSB@350582")


def events(n: int, start: int = 0, tag: str = "") -> list[AuditEvent]:
    return [
        AuditEvent(
            f"submitted:{tag}{i:08d}", "submitted", T0 + timedelta(seconds=i),
            message_id=f"msg-{tag}{i}", conversation_id=f"msg-{tag}{i}",
            family="clue_transfer", sender="MIB@350582", recipient="PSB@350582",
        )
        for i in range(start, start + n)
    ]  # fmt: skip


class World:
    """A rig (the hub's store and directory, a fake producer), an audit store the publisher reads,
    and PSB's connector-side witness."""

    def __init__(self, tmp: Path) -> None:
        self.rig = Rig(tmp / "hub")
        self.audit = AuditStore(f"sqlite:///{tmp / 'audit.db'}")
        self.heads = TreeHeads(self.rig.services.store.engine)

        async def no_topic(*_: str) -> None:
            return None

        self.publisher = TreeHeadPublisher(
            self.rig.services.registry,
            lambda: self.audit,
            self.heads,
            lambda: self.rig.services.directory.current,
            lambda: self.rig.key(str(OPERATORS)),
            no_topic,
            proofs=3,
        )
        self.witness = TreeHeadWitness(tmp / "psb.db")
        self.read = 0

    def tick(self) -> int:
        return asyncio.run(self.publisher.tick(self.rig.producer))

    def psb_heads(self) -> list[Any]:
        """PSB's new tree-head records, opened as its connector opens them."""
        sent = self.rig.producer.on("hub.inbox.PSB.350582")[self.read :]
        self.read += len(sent)
        directory = self.rig.services.directory.current
        return [open_record(self.rig.services.registry, directory, s, me=PSB) for s in sent]

    def observe_all(self) -> list[str]:
        directory = self.rig.services.directory.current
        return [self.witness.observe(m, directory).kind for m in self.psb_heads()]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_head_goes_to_every_connector_but_the_operators_and_only_when_the_log_grew(
    world: World,
) -> None:
    assert world.tick() == 0  # an empty log has no head
    world.audit.append(events(5))
    assert world.tick() == 1
    inboxes = {s.topic for s in world.rig.producer.sent}
    registered = {a for a in world.rig.services.directory.current.addresses() if a != OPERATORS}
    assert inboxes == {f"hub.inbox.{a.agency}.{a.region}" for a in registered}
    assert all(s.key == b"tree-head" for s in world.rig.producer.sent)
    [msg] = world.psb_heads()
    assert msg.family == "tree_head" and msg.envelope.sender == OPERATORS
    assert msg.message_id == message_id(5) and msg.payload["tree_size"] == 5
    assert msg.payload["proofs"] == []
    assert world.tick() == 0  # nothing new recorded: nothing sent


def test_each_connector_checks_every_head_against_the_last_it_kept(world: World) -> None:
    world.audit.append(events(5))
    world.tick()
    assert world.observe_all() == ["first"]
    for grow in (3, 1, 8):
        world.audit.append(events(grow, world.audit.count()))
        world.tick()
        assert world.observe_all() == ["consistent"]
    kept = world.witness.kept(ORIGIN)
    assert kept is not None and kept.tree_size == 17
    assert (
        kept.root_hash
        == merkle.root(
            [merkle.leaf_hash(h.encode()) for h in world.audit.iter_record_hashes()]
        ).hex()
    )


def test_a_connector_that_missed_heads_checks_the_next_from_an_older_one(world: World) -> None:
    world.audit.append(events(4))
    world.tick()
    assert world.observe_all() == ["first"]
    for _ in range(2):  # two heads PSB never reads (a broker that lost them)
        world.audit.append(events(2, world.audit.count()))
        world.tick()
        world.psb_heads()
    world.audit.append(events(2, world.audit.count()))
    world.tick()
    assert world.observe_all() == ["consistent"]  # the proof from size 4 is still carried
    # Past the proofs a head carries (3 here), the connector records a gap and moves on.
    for _ in range(4):
        world.audit.append(events(1, world.audit.count()))
        world.tick()
        world.psb_heads()
    world.audit.append(events(1, world.audit.count()))
    world.tick()
    assert world.observe_all() == ["gap"]
    [(old_size, _, new_size, _)] = world.witness.gaps()
    assert (old_size, new_size) == (10, 15)


def test_a_log_rewritten_by_the_hub_host_is_caught_by_the_connector(
    world: World, tmp_path: Path
) -> None:
    world.audit.append(events(6))
    world.tick()
    assert world.observe_all() == ["first"]
    # The host rebuilds the log with one early record left out and re-signs everything with the
    # hub's own key: its heads verify as signatures, not as a continuation of what PSB kept.
    rewritten = AuditStore(f"sqlite:///{tmp_path / 'rewritten.db'}")
    rewritten.append([e for e in events(9) if e.event_id != "submitted:00000002"])
    world.audit = rewritten
    world.tick()
    [msg] = world.psb_heads()
    with pytest.raises(TreeHeadMismatch, match="not consistent"):
        world.witness.observe(msg, world.rig.services.directory.current)
    kept = world.witness.kept(ORIGIN)
    assert kept is not None and kept.tree_size == 6  # the evidence stays


def test_a_head_signed_but_not_sent_everywhere_is_sent_again(world: World) -> None:
    world.audit.append(events(3))
    world.rig.producer.fail("hub.inbox.PSB", ConnectionError("broker away"))
    with pytest.raises(ConnectionError):
        world.tick()
    assert [h.tree_size for h in world.heads.unpublished()] == [3]
    world.audit.append(events(2, 3))
    assert world.tick() == 2  # the pending head first (same payload), then the new one
    assert world.heads.unpublished() == []
    # PSB had the first copy already: the repeat is the same head, and changes nothing.
    assert world.observe_all() == ["first", "same", "consistent"]


# -- the verdicts, pure --------------------------------------------------------------------------

KEY = SigningKey.generate()
KEYS = [(KEY.key_id, KEY.public.raw)]


def head_of(leaves: list[bytes], *, key: SigningKey = KEY, froms: tuple[int, ...] = ()) -> dict:
    root = merkle.root(leaves)
    return {
        "origin": ORIGIN,
        "tree_size": len(leaves),
        "root_hash": root.hex(),
        "checkpoint": signed_checkpoint(ORIGIN, len(leaves), root, key),
        "proofs": [
            {"old_size": m, "old_root": merkle.root(leaves[:m]).hex(),
             "path": [p.hex() for p in merkle.consistency_proof(m, leaves)]}
            for m in froms
        ],
    }  # fmt: skip


def kept_of(payload: dict) -> KeptHead:
    return KeptHead(ORIGIN, payload["tree_size"], payload["root_hash"], payload["checkpoint"])


LEAVES = [merkle.leaf_hash(f"record {i}".encode()) for i in range(40)]


@pytest.mark.parametrize("old", [1, 2, 3, 7, 8, 16, 33])
def test_a_head_with_a_proof_from_the_kept_size_is_consistent(old: int) -> None:
    kept = kept_of(head_of(LEAVES[:old]))
    assert check_head(kept, head_of(LEAVES, froms=(old,)), KEYS).kind == "consistent"


def test_the_verdicts_on_heads_that_are_not_new() -> None:
    kept = kept_of(head_of(LEAVES[:10]))
    assert check_head(None, head_of(LEAVES[:10]), KEYS).kind == "first"
    assert check_head(kept, head_of(LEAVES[:10]), KEYS).kind == "same"
    assert check_head(kept, head_of(LEAVES[:4]), KEYS).kind == "stale"
    assert check_head(kept, head_of(LEAVES, froms=(12,)), KEYS).kind == "gap"


@pytest.mark.parametrize(
    "forgery",
    ["same size, other root", "proof from an altered prefix", "proof path edited",
     "proof path not hex",
     "checkpoint by another key", "checkpoint of another head", "other origin"],
)  # fmt: skip
def test_a_head_that_does_not_continue_the_kept_one_is_refused(forgery: str) -> None:
    kept = kept_of(head_of(LEAVES[:10]))
    altered = [*LEAVES[:3], merkle.leaf_hash(b"changed"), *LEAVES[4:]]
    if forgery == "same size, other root":
        payload = head_of(altered[:10])
    elif forgery == "proof from an altered prefix":
        payload = head_of(altered, froms=(10,))
    elif forgery == "proof path edited":
        payload = head_of(LEAVES, froms=(10,))
        path = payload["proofs"][0]["path"]
        path[0] = "00" * 32
    elif forgery == "proof path not hex":
        payload = head_of(LEAVES, froms=(10,))
        payload["proofs"][0]["path"][0] = "not hex"
    elif forgery == "checkpoint by another key":
        payload = head_of(LEAVES, key=SigningKey.generate(), froms=(10,))
    elif forgery == "checkpoint of another head":
        payload = head_of(LEAVES, froms=(10,))
        payload["root_hash"] = head_of(altered)["root_hash"]
    else:
        payload = {**head_of(LEAVES[:10]), "origin": "elsewhere"}
        payload["checkpoint"] = signed_checkpoint(
            "elsewhere", 10, bytes.fromhex(payload["root_hash"]), KEY
        )
    with pytest.raises(TreeHeadMismatch):
        check_head(kept, payload, KEYS)


def test_a_head_without_a_proof_from_the_kept_size_is_proved_from_the_served_tiles() -> None:
    kept = kept_of(head_of(LEAVES[:10]))
    payload = head_of(LEAVES, froms=(12,))  # it carries no proof from 10: a gap, by itself
    asked: list[tuple[int, int]] = []

    def tiles(m: int, n: int) -> list[bytes]:
        asked.append((m, n))
        return merkle.consistency_proof(m, LEAVES)

    assert check_head(kept, payload, KEYS, tiles).kind == "consistent"
    assert asked == [(10, 40)]
    assert check_head(kept, payload, KEYS, lambda m, n: None).kind == "gap"  # tiles unreadable
    # Tiles of another history give a proof the verifier refuses.
    altered = [*LEAVES[:3], merkle.leaf_hash(b"changed"), *LEAVES[4:]]
    with pytest.raises(TreeHeadMismatch, match="the served tiles"):
        check_head(kept, payload, KEYS, lambda m, n: merkle.consistency_proof(m, altered))
    # A head's own proof is used when it has one: the tiles are not asked.
    assert check_head(kept, head_of(LEAVES, froms=(10,)), KEYS, tiles).kind == "consistent"
    assert asked == [(10, 40)]
