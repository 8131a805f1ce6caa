"""The short hostile-ingress drill against the session hub (the long one: ops/drills/).

Every record written to hub.ingress gets exactly one outcome, counted to the record, and the
hub keeps routing.  Before the hardening a 1 MB record or a header that is not UTF-8 was
dropped with no trace (and the books did not balance).
"""

from __future__ import annotations

from ops.drills.hostile_ingress import books, build, settle, write
from tests.e2e.test_end_to_end import payload, store
from tests.hubproc import HubProcess, load_example, wait_for_messages

RECORDS = 600


def test_hostile_records_each_get_one_outcome_and_the_hub_keeps_routing(hub: HubProcess) -> None:
    mib = hub.connector("MIB@350582")
    plan = build(mib.registry, mib.key, load_example("clue_transfer"), RECORDS, seed=11)
    assert plan.kinds["1 MB record"] == 1 and plan.kinds["exact repeat"] > 20
    db = store(hub)
    measure = lambda: books(db, f"{hub.state.web_url}/metrics", plan.valid_ids)  # noqa: E731
    before = measure()
    write(hub.state.bootstrap, plan)
    done = settle(measure, before, len(plan.records), timeout_s=240)
    assert done.total == len(plan.records), (done, dict(plan.kinds))
    assert done.delivered == len(plan.valid_ids)
    assert done.repeats == plan.expected_repeats
    # Still routing: a good message after the storm arrives.
    mid = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
    assert wait_for_messages(hub.connector("PSB@350582", signing=False), {mid})
