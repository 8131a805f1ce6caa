"""Receipts, feedback and SLA clocks against a real `hub run` with a short policy and a clock
file the tests move forward (no test waits for a real deadline)."""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.core.clock import advance_clock_file
from hub.lifecycle.ledger import Ledger
from hub.storage.store import Store
from hub.wire import codec
from hub.wire.envelope import read_envelope
from hub.wire.topics import SLA_EVENTS, inbox_topic
from tests.e2e.test_end_to_end import dead_letter_of, metric_value, metrics_text, payload
from tests.hubproc import HubProcess, raw_inbox_records, start_hub, wait_for_messages, wait_until

SHORT_SLA = Path(__file__).parents[1] / "data" / "sla-short.yaml"
MINUTE = 60.0


def sla_env(home: Path) -> dict[str, str]:
    return {
        "HUB_SLA_FILE": str(SHORT_SLA),
        "HUB_CLOCK_FILE": str(home / "clock-offset"),
        "HUB_ALLOW_CLOCK_FILE": "true",
        "HUB_SLA_TICK_S": "0.2",
        "HUB_SLA_ESCALATION_GRACE_S": str(30 * MINUTE),
    }


@pytest.fixture(scope="module")
def sla_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    home = tmp_path_factory.mktemp("sla-hub")
    proc = start_hub(home, extra_env=sla_env(home))
    try:
        yield proc
    finally:
        proc.stop()


def ledger(hub: HubProcess) -> Ledger:
    return _ledger(hub.settings.effective_store_url)


@functools.cache
def _ledger(url: str) -> Ledger:
    # One engine per database for the session: polling loops must not open a pool per call.
    return Ledger(Store(url).engine)


def advance(hub: HubProcess, minutes: float) -> None:
    advance_clock_file(hub.home / "clock-offset", minutes * MINUTE)


def send_clue(hub: HubProcess, to: str = "PSB@350582", **changes) -> str:
    mib = hub.connector("MIB@350582")
    clue = payload(mib, "clue_transfer", requested_deadline=None, risk_level="LOW", **changes)
    mid = mib.send("clue_transfer", to, clue)
    wait_until(lambda: ledger(hub).entry(mid) is not None, what=f"{mid} in the ledger")
    return mid


def kinds(hub: HubProcess, mid: str, stage: str = "receipt") -> list[str]:
    return [e.kind for e in ledger(hub).events(mid) if e.stage == stage]


def wait_for_kind(hub: HubProcess, mid: str, kind: str, stage: str = "receipt") -> None:
    wait_until(lambda: kind in kinds(hub, mid, stage), what=f"{kind} of {mid} {stage}")


def sla_copies(hub: HubProcess, address: str, mid: str) -> Counter:
    """SLA event copies about ``mid`` in an inbox, raw (duplicates would show)."""
    agency, region = address.split("@")
    registry = hub.connector(address, signing=False).registry
    out: Counter = Counter()
    for record in raw_inbox_records(hub.state.bootstrap, inbox_topic(agency, region)):
        env = read_envelope(registry, record.value)
        if env.family == "sla_event" and env.correlation_id == mid:
            out[env.message_id] += 1
    return out


def test_a_receipt_in_time_raises_no_warning(sla_hub: HubProcess) -> None:
    signed, silent = send_clue(sla_hub), send_clue(sla_hub)
    psb = sla_hub.connector("PSB@350582")
    wait_for_messages(psb, [signed, silent])
    receipt = psb.receipt(_ref(sla_hub, signed))
    wait_until(lambda: ledger(sla_hub).entry(signed)["state"] == "RECEIVED", what="receipt")
    mib_inbox = wait_for_messages(sla_hub.connector("MIB@350582", signing=False), [receipt])
    assert mib_inbox[receipt].envelope.correlation_id == signed
    advance(sla_hub, 40)  # past the 30-minute warning of both receipts
    wait_for_kind(sla_hub, silent, "WARNING")  # the tick that would have warned has run
    assert kinds(sla_hub, signed) == []


def _ref(hub: HubProcess, mid: str):
    from connectors.client import OriginalRef
    from hub.trust.address import Address

    return OriginalRef(mid, Address.parse(ledger(hub).entry(mid)["sender"]))


def test_no_receipt_warns_breaches_and_escalates_each_exactly_once(sla_hub: HubProcess) -> None:
    out = sla_hub.cli(
        "send",
        "clue_transfer",
        "--from",
        "MIB@350582",
        "--to",
        "PSB@350582",
        "--payload",
        str(_clue_file(sla_hub)),
    )
    mid = out.stdout.strip()
    wait_until(lambda: ledger(sla_hub).entry(mid) is not None, what="ledger row")
    advance(sla_hub, 31)
    wait_for_kind(sla_hub, mid, "WARNING")
    advance(sla_hub, 30)
    wait_for_kind(sla_hub, mid, "BREACH")
    status = [json.loads(line) for line in sla_hub.cli("status", "--json").stdout.splitlines()]
    [row] = [r for r in status if (r["sender"], r["recipient"]) == ("MIB@350582", "PSB@350582")]
    assert row["family"] == "clue_transfer"
    assert row["warned"] >= 1 and row["breached"] >= 1 and row["overdue"] >= 1
    assert "BREACHED" in sla_hub.cli("status").stdout
    advance(sla_hub, 31)
    wait_for_kind(sla_hub, mid, "ESCALATION")
    assert kinds(sla_hub, mid) == ["WARNING", "BREACH", "ESCALATION"]

    ids = {k: f"{mid}:receipt:{k}" for k in ("WARNING", "BREACH", "ESCALATION")}
    wait_for_messages(sla_hub.connector("MIB@350582", signing=False), ids.values())
    creditor = sla_copies(sla_hub, "MIB@350582", mid)
    assert all(creditor[i] == 1 for i in ids.values()), creditor
    # The escalation also reaches the city police bureau and the hub operators.
    for address in ("PSB@350500", "HUB@100000"):
        wait_for_messages(sla_hub.connector(address, signing=False), [ids["ESCALATION"]])
        assert sla_copies(sla_hub, address, mid)[ids["ESCALATION"]] == 1
    registry = sla_hub.connector("MIB@350582", signing=False).registry
    on_topic = Counter(
        codec.decode(registry, r.value)[1]["event_id"]
        for r in raw_inbox_records(sla_hub.state.bootstrap, SLA_EVENTS.name)
        if r.key == mid.encode()
    )
    assert all(on_topic[i] == 1 for i in ids.values()), on_topic

    labels = {"family": "clue_transfer", "stage": "receipt", "debtor_agency": "PSB"}
    for name in ("hub_sla_warnings_total", "hub_sla_breaches_total", "hub_sla_escalations_total"):
        assert metric_value(sla_hub, name, **labels) >= 1, name
    assert (
        metric_value(
            sla_hub, "hub_open_obligations", recipient="PSB@350582", family="clue_transfer"
        )
        >= 1
    )
    assert 'hub_consumer_lag{partition="' in metrics_text(sla_hub)


def _clue_file(hub: HubProcess) -> Path:
    data = json.loads(
        (Path(__file__).parents[2] / "examples/payloads/clue_transfer.json").read_text("utf-8")
    )
    data.pop("requested_deadline")
    data["risk_level"] = "LOW"
    path = hub.home / "clue-no-deadline.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_the_whole_lifecycle_from_the_cli_reaches_the_sender(sla_hub: HubProcess) -> None:
    mid = send_clue(sla_hub)
    replies = [
        sla_hub.cli("receipt", "--as", "PSB@350582", mid, "--by", "经侦大队").stdout.strip(),
        sla_hub.cli("accept", "--as", "PSB@350582", mid, "--case-number", "JJ-2025-7").stdout,
        sla_hub.cli(
            "feedback", "--as", "PSB@350582", mid, "--note", "调取病历", "--percent", "40"
        ).stdout,
        sla_hub.cli(
            "close",
            "--as",
            "PSB@350582",
            mid,
            "--result",
            "VERIFIED_TRUE",
            "--recovered-fen",
            "1283450",
            "--sanction",
            "SUSPENSION",
            "--sanction",
            "REFERRED_TO_JUDICIAL=2",
        ).stdout,
    ]
    ids = [r.strip() for r in replies]
    found = wait_for_messages(sla_hub.connector("MIB@350582", signing=False), ids)
    assert [found[i].family for i in ids] == ["receipt", "acceptance", "feedback", "closure"]
    wait_until(lambda: ledger(sla_hub).entry(mid)["state"] == "CLOSED", what="closed")
    entry = ledger(sla_hub).entry(mid)
    assert entry["result"] == "VERIFIED_TRUE" and entry["recovered_fen"] == 1283450
    assert json.loads(entry["sanctions"]) == {"SUSPENSION": 1, "REFERRED_TO_JUDICIAL": 2}
    assert all(o.fulfilled_at is not None for o in ledger(sla_hub).obligations_of(mid))
    for name in ("hub_time_to_receipt_seconds_count", "hub_time_to_close_seconds_count"):
        assert metric_value(sla_hub, name, family="clue_transfer") >= 1, name


def test_consume_signs_for_what_the_handler_took(sla_hub: HubProcess) -> None:
    mid = send_clue(sla_hub, to="HEALTH@350582")
    taken: list[str] = []
    sla_hub.connector("HEALTH@350582").consume(
        lambda m: taken.append(m.message_id), follow=False, idle_timeout_s=2
    )
    assert mid in taken
    wait_until(lambda: ledger(sla_hub).entry(mid)["state"] == "RECEIVED", what="auto receipt")


def test_an_invoice_result_closes_its_request(sla_hub: HubProcess) -> None:
    mib, fin = sla_hub.connector("MIB@350582"), sla_hub.connector("FIN@350582")
    request = mib.send(
        "invoice_verification_request", "FIN@350582", payload(mib, "invoice_verification_request")
    )
    wait_until(lambda: ledger(sla_hub).entry(request) is not None, what="request in ledger")
    fin.send(
        "invoice_verification_result",
        "MIB@350582",
        payload(fin, "invoice_verification_result"),
        correlation_id=request,
    )
    wait_until(lambda: ledger(sla_hub).entry(request)["state"] == "CLOSED", what="closed")
    assert ledger(sla_hub).entry(request)["result"] == "VOIDED"  # as in the example answer


def test_every_illegal_transition_is_dead_lettered_with_its_reason(sla_hub: HubProcess) -> None:
    mid = send_clue(sla_hub)
    ref = _ref(sla_hub, mid)
    psb, health = sla_hub.connector("PSB@350582"), sla_hub.connector("HEALTH@350582")
    mib = sla_hub.connector("MIB@350582")
    cases = {
        psb.feedback(ref, "先反馈"): ("illegal_transition", "not allowed in state DELIVERED"),
        health.receipt(ref): ("illegal_transition", "only PSB@350582"),
        mib.send("receipt", "PSB@350582", _receipt(mib), correlation_id=mid): (
            "illegal_transition",
            "only PSB@350582",
        ),
        psb.send("receipt", "MIB@350500", _receipt(psb), correlation_id=mid): (
            "illegal_transition",
            "goes to its sender MIB@350582",
        ),
        psb.send("receipt", "MIB@350582", _receipt(psb), correlation_id="no-such-message"): (
            "unknown_conversation",
            "never delivered",
        ),
    }
    psb.receipt(ref)
    psb.accept(ref)
    cases[psb.close_case(ref, "NOT_TRUE")] = None  # legal
    cases[psb.close_case(ref, "NOT_TRUE")] = ("illegal_transition", "already closed")
    duplicate = psb.receipt(ref)  # signing twice sends the same id: skipped, not dead-lettered
    for reply_id, expected in cases.items():
        if expected is None:
            continue
        row = dead_letter_of(sla_hub, reply_id)
        assert row["reason"] == expected[0], row
        assert expected[1] in row["detail"], row["detail"]
    dead = Store(sla_hub.settings.effective_store_url).dead_letters(limit=10_000)
    assert not any(r["message_id"] == duplicate for r in dead)


def _receipt(conn) -> dict:
    from hub.wire.envelope import now_utc

    return {"received_at": now_utc(), "received_by": None, "note": None}


def test_a_restart_between_warning_and_breach_still_breaches_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("sla-restart")
    hub = start_hub(home, extra_env=sla_env(home))
    try:
        mid = send_clue(hub)
        advance(hub, 31)
        wait_for_kind(hub, mid, "WARNING")
    finally:
        assert hub.stop() == 0
    # The embedded broker dies with the hub; the ledger in SQLite survives.
    hub = start_hub(home, extra_env=sla_env(home))
    try:
        advance(hub, 30)
        wait_for_kind(hub, mid, "BREACH")
        advance(hub, 31)
        wait_for_kind(hub, mid, "ESCALATION")  # later ticks ran; the breach did not repeat
        assert kinds(hub, mid) == ["WARNING", "BREACH", "ESCALATION"]
        breach = f"{mid}:receipt:BREACH"
        wait_for_messages(hub.connector("MIB@350582", signing=False), [breach])
        assert sla_copies(hub, "MIB@350582", mid)[breach] == 1
    finally:
        hub.stop()
