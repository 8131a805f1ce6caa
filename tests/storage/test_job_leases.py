"""Leases of the jobs that must run once, on SQLite and PostgreSQL: one holder at a time, a
takeover only after expiry and with a larger fence, a restart that takes its lease back at once,
and a stalled holder whose write is refused once another took the job over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.storage.leases import JobLeases, LeaseLost
from hub.storage.store import Store
from hub.storage.tree_heads import PublishedHead, TreeHeads

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
A, B = "run@host-a/11111111", "run@host-b/22222222"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def head(size: int) -> PublishedHead:
    return PublishedHead(size, f"{size:064x}", {"tree_size": size}, T0, None)


def test_one_holder_at_a_time_and_another_takes_over_only_after_expiry(store: Store) -> None:
    leases = JobLeases(store.engine)
    first = leases.take("tree-heads", A, 100, at(0), 30, None)
    assert first is not None and first.fence == 1 and first.owner == A
    assert leases.take("tree-heads", B, 200, at(1), 30, None) is None
    renewed = leases.take("tree-heads", A, 100, at(20), 30, first.fence)
    assert renewed is not None and renewed.fence == 1 and renewed.expires_at == at(50)
    assert leases.take("tree-heads", B, 200, at(49), 30, None) is None  # renewal counted
    taken = leases.take("tree-heads", B, 200, at(51), 30, None)
    assert taken is not None and taken.owner == B and taken.fence == 2
    # The old holder's renewal finds the job in other hands.
    assert leases.take("tree-heads", A, 100, at(52), 30, first.fence) is None
    assert [(x.job, x.owner, x.pid) for x in leases.all()] == [("tree-heads", B, 200)]


def test_each_job_has_its_own_lease(store: Store) -> None:
    leases = JobLeases(store.engine)
    assert leases.take("tree-heads", A, 1, at(0), 30, None) is not None
    prune = leases.take("prune", B, 2, at(0), 30, None)
    assert prune is not None and prune.fence == 1
    assert {x.job: x.owner for x in leases.all()} == {"prune": B, "tree-heads": A}


def test_a_restarted_holder_takes_its_lease_back_at_once_with_a_new_fence(store: Store) -> None:
    leases = JobLeases(store.engine)
    before = leases.take("prune", A, 100, at(0), 30, None)
    assert before is not None
    # kill -9 and restart: same owner name, new pid, nothing remembered.
    after = leases.take("prune", A, 101, at(2), 30, None)
    assert after is not None and after.fence == before.fence + 1 and after.pid == 101


def test_a_released_lease_is_taken_at_once(store: Store) -> None:
    leases = JobLeases(store.engine)
    held = leases.take("prune", A, 1, at(0), 30, None)
    assert held is not None and leases.release(held, at(5))
    taken = leases.take("prune", B, 2, at(5.5), 30, None)
    assert taken is not None and taken.fence == 2


def test_a_stalled_holder_cannot_write_after_another_took_the_job_over(store: Store) -> None:
    leases, heads = JobLeases(store.engine), TreeHeads(store.engine)
    stalled = leases.take("tree-heads", A, 1, at(0), 30, None)
    assert stalled is not None
    assert heads.record(head(10), stalled)
    successor = leases.take("tree-heads", B, 2, at(31), 30, None)
    assert successor is not None
    assert heads.record(head(12), successor)
    # A wakes up with the head it had built before it stalled: refused, nothing written.
    with pytest.raises(LeaseLost):
        heads.record(head(11), stalled)
    assert heads.at(11) is None
    assert [h.tree_size for h in heads.unpublished()] == [10, 12]
    latest = heads.latest()
    assert latest is not None and latest.tree_size == 12


def test_an_expired_lease_nobody_took_is_still_its_holders_to_renew(store: Store) -> None:
    leases = JobLeases(store.engine)
    held = leases.take("tree-heads", A, 1, at(0), 30, None)
    assert held is not None
    again = leases.take("tree-heads", A, 1, at(90), 30, held.fence)
    assert again is not None and again.fence == held.fence  # nobody wrote in between
    TreeHeads(store.engine).record(head(5), again)
