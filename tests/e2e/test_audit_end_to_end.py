"""The transfer log end to end: a real `hub run` with its audit store on PostgreSQL.

A CLI scenario hands clues down the MIB hierarchy and through their lifecycle; then
`hub audit trail` tells the whole story, `hub audit verify` passes, a one-byte change made with
psql makes it fail naming that record, the weekly report's form 3 has the right numbers, and
no name or ID number sent appears in the audit tables or the logs.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.databases import postgres_database
from tests.hubproc import HubProcess, load_example, start_hub, wait_until

CST = timezone(timedelta(hours=8))
#: Known personal data sent in clues; none of it may reach the audit log or the logs.
PEOPLE = [("王秀英", "11010519491231002X"), ("李建国", "350582198806150015")]


@pytest.fixture(scope="module")
def audit_pg() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def pg_hub(tmp_path_factory: pytest.TempPathFactory, audit_pg: str) -> Iterator[HubProcess]:
    # A short checkpoint interval so the sink signs by itself during the test.
    env = {"HUB_AUDIT_URL": audit_pg, "HUB_AUDIT_CHECKPOINT_INTERVAL_S": "1"}
    proc = start_hub(tmp_path_factory.mktemp("audit-hub"), extra_env=env)
    try:
        yield proc
    finally:
        proc.stop()


def audit_rows(url: str, sql: str = "SELECT * FROM audit_log ORDER BY seq") -> list[dict]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def clue(source: str, batch: int, seq: int, person: tuple[str, str] | None = None) -> dict:
    p = load_example("clue_transfer")
    p["clue_id"] = f"E2E-{source[:4]}-{batch}-{seq}-{time.time_ns()}"
    p["batch"] = {
        "batch_id": f"{source}-{batch}",
        "source": source,
        "batch_number": batch,
        "sequence": seq,
        "batch_size": None,
    }
    p["requested_deadline"] = None
    if person is not None:
        name, id_number = person
        p["subject"] = {"kind": "INSURED_PERSON", "name": name, "credit_code": None,
                        "id_number": id_number}  # fmt: skip
        p["summary"] = f"{name}（{id_number}）冒名就医"
    return p


def send(hub: HubProcess, tmp: Path, sender: str, recipient: str, payload: dict) -> str:
    path = tmp / f"{payload['clue_id']}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    out = hub.cli("send", "clue_transfer", "--from", sender, "--to", recipient,
                  "--payload", str(path)).stdout  # fmt: skip
    return out.strip().split()[-1]


@pytest.fixture(scope="module")
def scenario(pg_hub: HubProcess, audit_pg: str, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("payloads")
    plan = {
        # From the national bureau, batch 1: two clues to the city, one to a county.
        "n1": ("MIB@100000", "MIB@350500", clue("NATIONAL_BUREAU", 1, 1, PEOPLE[0])),
        "n2": ("MIB@100000", "MIB@350500", clue("NATIONAL_BUREAU", 1, 2)),
        "n3": ("MIB@100000", "MIB@350582", clue("NATIONAL_BUREAU", 1, 3)),
        # From the provincial bureau, batch 2.
        "p1": ("MIB@350000", "MIB@350500", clue("PROVINCIAL_BUREAU", 2, 1, PEOPLE[1])),
        # A whistle-blower clue the city hands to its county.
        "w1": ("MIB@350500", "MIB@350582", clue("WHISTLEBLOWER", 1, 1)),
    }
    ids = {k: send(pg_hub, tmp, *v) for k, v in plan.items()}
    # The lifecycle commands look each original up in the ledger: wait until it is there.
    from hub.lifecycle.ledger import Ledger
    from hub.storage.store import Store

    book = Ledger(Store(pg_hub.settings.effective_store_url).engine)
    wait_until(lambda: all(book.entry(i) for i in ids.values()), what="the clues delivered")
    # Each of these clues came from a higher level: closing it takes its processing report.
    report = tmp / "处理报告.txt"
    report.write_text("处理报告（测试）\n", encoding="utf-8")
    n1 = ids["n1"]
    pg_hub.cli("receipt", "--as", "MIB@350500", n1, "--by", PEOPLE[0][0])
    pg_hub.cli("accept", "--as", "MIB@350500", n1, "--case-number", "QZ-2026-1")
    pg_hub.cli("feedback", "--as", "MIB@350500", n1, "--note", f"约谈 {PEOPLE[0][0]}")
    pg_hub.cli("close", "--as", "MIB@350500", n1, "--result", "VERIFIED_TRUE",
               "--recovered-fen", "1234567", "--sanction", "FINED=1",
               "--note", f"{PEOPLE[0][0]} {PEOPLE[0][1]} 已退回",
               "--processing-report", str(report))  # fmt: skip
    for key, result in (("n3", "NOT_TRUE"), ("w1", "PARTIALLY_TRUE")):
        pg_hub.cli("receipt", "--as", "MIB@350582", ids[key])
        pg_hub.cli("accept", "--as", "MIB@350582", ids[key])
        pg_hub.cli("close", "--as", "MIB@350582", ids[key], "--result", result,
                   "--processing-report", str(report))  # fmt: skip
    pg_hub.cli("receipt", "--as", "MIB@350500", ids["p1"])
    pg_hub.cli("return", "--as", "MIB@350500", ids["p1"], "--reason", f"{PEOPLE[1][0]} 不在辖区")

    def closed_count() -> int:
        rows = audit_rows(audit_pg, "SELECT count(*) AS n FROM audit_log WHERE kind = 'closed'")
        return rows[0]["n"]

    wait_until(lambda: closed_count() == 3, timeout=60, what="three closures in the audit log")
    return ids


def test_trail_tells_the_whole_story(pg_hub: HubProcess, scenario: dict) -> None:
    n1 = scenario["n1"]
    out = pg_hub.cli("audit", "trail", n1, "--json").stdout
    steps = json.loads(out)
    kinds = [s["kind"] for s in steps]
    story = [k for k in kinds if k in {"submitted", "routed", "delivered", "receipt", "accepted",
                                        "feedback", "closed"}]  # fmt: skip
    # The original's three steps, then each reply's submitted/routed/delivered + its effect.
    assert story[:3] == ["submitted", "routed", "delivered"]
    effects = [k for k in story[3:] if k not in {"submitted", "routed", "delivered"}]
    assert effects == ["receipt", "accepted", "feedback", "closed"]
    assert story.count("delivered") == 5
    assert all(s["record_intact"] for s in steps)
    signed = [s for s in steps if s["signature"] is not None]
    assert signed and all(s["signature"] == "valid" for s in signed)
    first = steps[0]
    assert first["sender"] == "MIB@100000" and first["recipient"] == "MIB@350500"
    assert {s["signed_by"] for s in signed if s["kind"] == "receipt"} == {"MIB@350500"}
    assert [s["status"] for s in steps if s["status"]] == [
        "DELIVERED", "RECEIVED", "ACCEPTED", "IN_PROGRESS", "CLOSED",
    ]  # fmt: skip
    closed = next(s for s in steps if s["kind"] == "closed")
    assert closed["facts"]["result"] == "VERIFIED_TRUE"
    assert closed["facts"]["recovered_fen"] == "1234567"
    table = pg_hub.cli("audit", "trail", n1).stdout
    assert "closed signed by MIB@350500: VERIFIED_TRUE" in table and "✗" not in table


def test_search_finds_by_agency_region_family_and_status(
    pg_hub: HubProcess, scenario: dict
) -> None:
    def search(*args: str) -> list[dict]:
        return json.loads(pg_hub.cli("audit", "search", *args, "--json").stdout)

    closed = search("--region", "350500", "--kind", "closed")
    assert {r["conversation_id"] for r in closed} == {scenario[k] for k in ("n1", "n3", "w1")}
    county = search("--region", "350582", "--kind", "delivered", "--family", "clue_transfer")
    assert {r["message_id"] for r in county} == {scenario["n3"], scenario["w1"]}
    returned = search("--status", "RETURNED")
    assert [r["conversation_id"] for r in returned] == [scenario["p1"]]
    today = datetime.now(CST).date().isoformat()
    assert search("--agency", "MIB", "--since", today, "--until", today)
    assert search("--since", "2000-01-01", "--until", "2000-01-02") == []
    assert "record(s)" in pg_hub.cli("audit", "search", "--agency", "MIB").stdout
    # The same record reads the same in both: facts an object, as `hub audit trail` gives it.
    [one] = search("--status", "RETURNED")
    trail = json.loads(pg_hub.cli("audit", "trail", one["message_id"], "--json").stdout)
    same = next(s for s in trail if s["seq"] == one["seq"])
    assert isinstance(one["facts"], dict) and one["facts"] == same["facts"]


def test_verify_passes_then_a_one_byte_psql_change_is_named(
    pg_hub: HubProcess, scenario: dict, audit_pg: str
) -> None:
    # The sink signs checkpoints by itself (interval 1 s in this hub).
    wait_until(
        lambda: audit_rows(audit_pg, "SELECT count(*) AS n FROM audit_checkpoints")[0]["n"] > 0,
        timeout=30,
        what="a checkpoint signed by the sink",
    )
    pg_hub.cli("audit", "checkpoint")
    ok = pg_hub.cli("audit", "verify")
    assert ok.returncode == 0 and "audit log intact" in ok.stdout

    rows = audit_rows(audit_pg)
    target = next(r for r in rows if r["kind"] == "closed")
    old = target["sender"]
    new = old[:-1] + ("3" if old[-1] != "3" else "4")  # one byte
    dsn = audit_pg.replace("postgresql+psycopg://", "postgresql://")
    refused = subprocess.run(
        ["psql", dsn, "-c", f"UPDATE audit_log SET sender = '{new}' WHERE seq = {target['seq']}"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "append-only" in refused.stderr
    done = subprocess.run(
        ["psql", dsn, "-v", "ON_ERROR_STOP=1", "-c",
         "SET session_replication_role = replica; "
         f"UPDATE audit_log SET sender = '{new}' WHERE seq = {target['seq']}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    try:
        bad = pg_hub.cli("audit", "verify", check=False)
        assert bad.returncode == 1
        assert f"record #{target['seq']} ({target['event_id']})" in bad.stdout
        assert "altered" in bad.stdout
        trail = json.loads(
            pg_hub.cli("audit", "trail", scenario["n1"], "--json", check=False).stdout
        )
        flagged = [s["seq"] for s in trail if not s["record_intact"]]
        assert flagged == [target["seq"]]
    finally:
        subprocess.run(
            ["psql", dsn, "-c", "SET session_replication_role = replica; "
             f"UPDATE audit_log SET sender = '{old}' WHERE seq = {target['seq']}"],
            capture_output=True, check=True,
        )  # fmt: skip
    assert pg_hub.cli("audit", "verify").returncode == 0


def test_export_is_reverified_without_the_hub(
    pg_hub: HubProcess, scenario: dict, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    pg_hub.cli("audit", "export", "--out", str(out))
    verifier = Path(__file__).resolve().parents[2] / "ops" / "audit" / "verify_export.py"
    done = subprocess.run(
        ["python3", "-I", str(verifier), str(out)], capture_output=True, text=True
    )
    # Exit 2 means the outsider's python has no `cryptography`: hashes checked, signatures not.
    assert done.returncode in (0, 2), done.stdout + done.stderr
    assert "records intact" in done.stdout
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["records"] > 0 and manifest["checkpoints"] > 0


def test_weekly_report_form_3_from_the_scenario(pg_hub: HubProcess, scenario: dict) -> None:
    year, week, _ = datetime.now(CST).isocalendar()
    out = pg_hub.cli("report", "weekly", "--region", "350500", "--week", f"{year}-W{week:02d}",
                     "--format", "json").stdout  # fmt: skip
    report = json.loads(out)
    form3 = report["form3"]
    national = {row["batch_number"]: row for row in form3["national"]}
    assert (national[1]["total"], national[1]["closed"], national[1]["verified"]) == (3, 2, 1)
    provincial = {row["batch_number"]: row for row in form3["provincial"]}
    assert (provincial[2]["total"], provincial[2]["closed"]) == (1, 0)
    wb = form3["whistleblower"]
    assert (wb["total"], wb["closed"], wb["verified"]) == (1, 1, 1)
    # Form 2: the insured person fined, 12,345.67 yuan recovered = 1.23 万元.
    persons = report["form2"]["insured_persons"]
    assert {k: n for k, n in persons["sanctions"].items() if n} == {"FINED": 1}
    assert persons["recovered_wan"] == "1.23" and persons["distinct_sanctioned"] == 1
    table = pg_hub.cli("report", "weekly", "--region", "350500", "--week",
                       f"{year}-W{week:02d}").stdout  # fmt: skip
    assert "国家局移交线索办理情况" in table


def test_no_personal_data_in_the_audit_tables_or_logs(
    pg_hub: HubProcess, scenario: dict, audit_pg: str
) -> None:
    dumped = json.dumps(
        audit_rows(audit_pg) + audit_rows(audit_pg, "SELECT * FROM audit_checkpoints"),
        ensure_ascii=False,
        default=str,
    )
    log = pg_hub.log()
    for name, id_number in PEOPLE:
        for secret in (name, id_number, id_number[6:14]):
            assert secret not in dumped, f"{secret} is in the audit tables"
            assert secret not in log, f"{secret} is in the hub's log"
    # The clues did carry them: the check would have found them.
    assert any("INSURED_PERSON" in r["facts"] for r in audit_rows(audit_pg))


def test_the_sink_serves_its_metrics(pg_hub: HubProcess, scenario: dict) -> None:
    import urllib.request

    url = pg_hub.state.audit_metrics_url
    assert url, "hub run records the audit sink's metrics URL"
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    assert 'hub_audit_events_total{kind="delivered"}' in body
    assert "hub_audit_head_seq" in body
