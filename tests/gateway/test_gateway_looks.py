"""Agencies see when they are audited (issue 30.9): a gateway lists the compliance officers'
looks at the hand-offs it sent or received — when, at what, shown or refused — and not who."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hub.audit.store import AuditStore
from hub.console.looks import look
from tests.gateway.test_gateway_api import Side, clue, problem_of
from tests.runtime.test_ingress_pipeline import Rig


def test_a_gateway_lists_the_officers_looks_at_its_own_hand_off_without_their_names(
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from connectors.gateway.api import create_api
    from connectors.gateway.hubview import hub_view
    from connectors.gateway.server import authenticator

    rig = Rig(tmp_path / "hub")
    mib = Side(rig, "MIB@350582", tmp_path)
    sent = mib.post("/v1/messages", clue(), key="k-1")
    mid = sent.json()["id"]
    mib.route_last()
    audit = AuditStore(rig.settings.effective_audit_url)
    at = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    audit.append([look("qz-audit-01", "handoff", at, message_id=mid),
                  look("pt-audit-01", "handoff", at, message_id=mid, outcome="denied"),
                  look("qz-audit-01", "handoff", at, message_id="someone-elses")])  # fmt: skip
    app = create_api(mib.gateway, authenticate=authenticator(mib.store, False),
                     hub_view=hub_view(rig.settings))  # fmt: skip
    http = TestClient(app)
    got = http.get(f"/v1/messages/{mid}/looks", headers=mib.auth)
    assert got.status_code == 200, got.text
    looks = got.json()["looks"]
    assert [(x["what"], x["outcome"], x["at"]) for x in looks] == [
        ("handoff", "shown", "2026-12-03T09:30:00.000Z"),
        ("handoff", "denied", "2026-12-03T09:30:00.000Z"),
    ]
    assert "qz-audit-01" not in got.text and "pt-audit-01" not in got.text
    assert http.get(f"/v1/messages/{mid}", headers=mib.auth).json()["hub"]["looks"] == looks
    other = http.get("/v1/messages/someone-elses/looks", headers=mib.auth)
    assert other.status_code == 404 and problem_of(other)["reason"] == "not_found"

    # A gateway that cannot read the hub's records says so instead of listing nothing.
    blind = TestClient(create_api(mib.gateway, authenticate=authenticator(mib.store, False)))
    unknown = blind.get(f"/v1/messages/{mid}/looks", headers=mib.auth)
    assert unknown.status_code == 503
    assert problem_of(unknown)["reason"] == "hub_records_unavailable"
