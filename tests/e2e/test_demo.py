"""``hub demo`` from the command line: the scripted week played through a real hub, its weekly
report checked against the script, and its status board rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from hub.demo import scenario, week
from hub.sla.workdays import default_calendar
from tests.hubproc import interrupt

ROOT = Path(__file__).resolve().parents[2]
SEED = 7
VERIFIED = {"VERIFIED_TRUE", "PARTIALLY_TRUE"}


@dataclass
class DemoRun:
    home: Path
    board_url: str
    output: str

    def json(self, name: str) -> Any:
        return json.loads((self.home / "demo" / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    home = tmp_path_factory.mktemp("demo") / "week"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "hub.cli", "demo", "--keep-running"),
            *("--seed", str(SEED), "--dir", str(home)),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    url = ""
    deadline = time.monotonic() + 240
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        found = re.search(r"open (http://\S+/board)", line)
        if found:
            url = found.group(1)
            break
        if time.monotonic() > deadline:
            break
    try:
        assert url, "the demo did not finish:\n" + "".join(lines[-60:])
        yield DemoRun(home, url, "".join(lines))
    finally:
        interrupt(proc)


def expected_report(script: dict[str, Any]) -> dict[str, Any]:
    """Forms 1–3 worked out from the script alone, by the rules of 临医保发〔2019〕8号."""
    region = script["region"][:4]
    clues: dict[str, dict[str, Any]] = {}
    handoff_clue: dict[str, str] = {}
    for step in script["steps"]:
        if step["action"] == "send" and step["family"] == "clue_transfer":
            agency, _, code = step["to"].partition("@")
            if agency == "MIB" and code.startswith(region):
                facts = step["clue"]
                clues.setdefault(facts["clue_id"], {**facts, "closures": []})
                handoff_clue[step["ref"]] = facts["clue_id"]
    for step in script["steps"]:
        if step["action"] == "close" and step["ref"] in handoff_clue:
            clues[handoff_clue[step["ref"]]]["closures"].append(step["args"])

    def tally(source: str) -> dict[str, int]:
        of = [c for c in clues.values() if c["source"] == source]
        return {
            "total": len(of),
            "closed": sum(bool(c["closures"]) for c in of),
            "verified": sum(any(x["result"] in VERIFIED for x in c["closures"]) for c in of),
        }

    def column(kind: str) -> dict[str, Any]:
        closed = [c for c in clues.values() if c["subject_kind"] == kind and c["closures"]]
        sanctions: Counter[str] = Counter()
        for c in closed:
            sanctions.update(c["closures"][0]["sanctions"])
        return {
            "closures": len(closed),
            "sanctions": {k: v for k, v in sanctions.items() if v},
            "recovered_fen": sum(c["closures"][0]["recovered_fen"] for c in closed),
            "distinct_sanctioned": len(
                {c["subject_no"] for c in closed if any(c["closures"][0]["sanctions"].values())}
            ),
        }

    return {
        "national": tally("NATIONAL_BUREAU"),
        "provincial": tally("PROVINCIAL_BUREAU"),
        "whistleblower": tally("WHISTLEBLOWER"),
        "hospital": column("HOSPITAL"),
        "pharmacy": column("PHARMACY"),
        "insured_persons": column("INSURED_PERSON"),
    }


def as_played(weekly: dict[str, Any]) -> dict[str, Any]:
    def column(c: dict[str, Any]) -> dict[str, Any]:
        return {
            "closures": c["closures"],
            "sanctions": {k: v for k, v in c["sanctions"].items() if v},
            "recovered_fen": c["recovered_fen"],
            "distinct_sanctioned": c["distinct_sanctioned"],
        }

    f3 = weekly["form3"]
    return {
        "national": f3["national_total"],
        "provincial": f3["provincial_total"],
        "whistleblower": f3["whistleblower"],
        "hospital": column(weekly["form1"]["hospital"]),
        "pharmacy": column(weekly["form1"]["pharmacy"]),
        "insured_persons": column(weekly["form2"]["insured_persons"]),
    }


def test_the_weekly_report_matches_the_scripted_week_exactly(demo: DemoRun) -> None:
    script = demo.json("script.json")
    weekly = demo.json("weekly.json")
    assert weekly["week"] == script["week"]
    assert as_played(weekly) == expected_report(script)
    assert [row["label"].split(" ")[0] for row in weekly["form3"]["national"]] == ["第一批"]
    assert expected_report(script)["national"]["total"] == scenario.BATCH_SIZE


def test_the_demo_ends_with_board_report_and_an_intact_audit_log(demo: DemoRun) -> None:
    out = demo.output
    assert "[110/110]" in out or re.search(r"\[\s*\d+/\d+\]", out)
    for expected in ("SLA board", "打击欺诈骗保工作周报表", "（三）国家局移交线索办理情况"):
        assert expected in out
    assert re.search(
        r"audit log intact: \d+ records, head #\d+ .* \d+ checkpoint\(s\) verified", out
    )
    assert "VOIDED" in out  # the voided invoice, as the finance bureau answered it
    # The health commission's system took part through its HTTP gateway.
    assert "HEALTH@350500 takes part through its HTTP gateway" in out
    assert re.search(r"市卫健委办结（经 HTTP 网关）", out)


def test_every_sla_turn_of_the_script_happened(demo: DemoRun) -> None:
    pairs = demo.json("board.json")["pairs"]
    board = {(p["sender"], p["recipient"], p["family"]): p for p in pairs}
    silent = board[(scenario.JINJIANG, scenario.PSB_JINJIANG, "clue_transfer")]
    assert (silent["breached"], silent["escalated"]) == (2, 2)  # receipt and acceptance
    slow = board[(scenario.CITY, scenario.NANAN, "clue_transfer")]
    assert slow["breached"] == 1  # the high-risk clue past its requested date


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is missing: `./dev test` installs Debian's chromium package")
    return found


def headless(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"),
            *("--no-first-run", f"--user-data-dir={profile}", *args),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_board_renders_in_chromium_with_the_demo_data(demo: DemoRun, tmp_path: Path) -> None:
    profile = tmp_path / "chromium-profile"
    done = headless(profile, "--virtual-time-budget=3000", "--dump-dom", demo.board_url)
    dom = done.stdout
    assert '<table id="pairs"' in dom, done.stderr[-2000:]
    # Agency pairs in Chinese, the overdue hand-off escalated to the city, the audit head.
    assert "晋江市医疗保障局" in dom and "晋江市公安局" in dom
    assert "泉州市中级人民法院" in dom and "泉州市纪委监委" in dom
    overdue = dom[dom.index('id="overdue"') :]
    assert "demo7-" in overdue and "已上报" in overdue
    assert re.search(r"链头 head <b>#\d+</b>", dom)
    assert 'http-equiv="refresh"' in dom  # the page reloads itself
    assert "内容校验失败" in dom[dom.index('id="dead-letters"') :]  # the mistyped credit code
    # Nothing from inside a payload: no subject names, no ID numbers.
    assert "参保人" not in dom and "某某" not in dom
    assert not re.search(r"\b\d{17}[\dX]\b", dom)
    shot = tmp_path / "board.png"
    done = headless(profile, "--window-size=1280,1320", f"--screenshot={shot}", demo.board_url)
    assert shot.exists(), done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_same_seed_scripts_the_same_week_and_another_seed_another() -> None:
    monday = date(2026, 12, 7)
    a, b, c = (week.build(s, monday).to_json() for s in (SEED, SEED, SEED + 1))
    assert a == b
    assert a != c


def test_the_week_played_is_one_of_five_working_days_after_today() -> None:
    calendar = default_calendar()
    # 2024-09-29 (a Sunday): the next Monday begins the National Day holiday; the week after
    # has a make-up Saturday (10-12); the demo takes the first plain week after those.
    monday = scenario.next_plain_monday(datetime(2024, 9, 29, 12, tzinfo=UTC), calendar.is_workday)
    assert monday == date(2024, 10, 14)


def test_evidence_and_processing_reports_travel_in_the_demo(demo: DemoRun) -> None:
    """The whistle-blower clue reaches 晋江 with its evidence; every clue a county closes was
    handed down by the city, so its closure carries a processing report the ledger records."""
    from hub.core.config import Settings
    from hub.lifecycle.ledger import Ledger
    from hub.storage.store import Store

    saved = demo.home / "connectors" / f"{scenario.JINJIANG}.documents"
    names = sorted(p.name for p in saved.glob("*/*"))
    assert "1-举报材料.pdf" in names and "2-就诊明细.csv" in names
    script = demo.json("script.json")
    closes = [
        s for s in script["steps"] if s["action"] == "close" and s["actor"].startswith("MIB@")
    ]
    assert closes and all(s["args"].get("processing_report") for s in closes)
    ledger = Ledger(Store(Settings(home=demo.home).effective_store_url).engine)
    for step in closes:
        entry = ledger.entry(step["ref"])
        assert entry is not None and entry["state"] == "CLOSED"
        assert entry["processing_report"].startswith("1:"), step["ref"]


def test_jinjiang_reports_its_week_to_the_city_with_its_processing_reports(demo: DemoRun) -> None:
    from hub.core.config import Settings
    from hub.lifecycle.ledger import Ledger
    from hub.sla.weekly import duty_id
    from hub.storage.store import Store

    script = demo.json("script.json")
    ledger = Ledger(Store(Settings(home=demo.home).effective_store_url).engine)
    duty = ledger.entry(duty_id(scenario.JINJIANG, script["week"]))
    assert duty is not None and duty["state"] == "CLOSED"
    assert "处理报告" in demo.output.split("报送本周周报表")[1].splitlines()[1]


def test_an_officer_finds_the_demo_week_s_breached_clue_reads_and_proves_it(
    demo: DemoRun, browser: Browser, tmp_path: Path
) -> None:
    """The done-when of the console: an officer made on the command line signs in, finds the
    clue 晋江 police never signed for (breached), reads its custody, verifies its proofs in the
    browser and takes the week's report away as a workbook whose numbers equal the hub's."""
    import io

    import pyotp
    from openpyxl import load_workbook

    from hub.runtime.broker import free_port
    from tests.e2e.test_console_browser import PASSWORD, _up, sign_in
    from tests.report.workbook_json import mismatches

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_HOME": str(demo.home), "HUB_DEV_DIRECTORY": "always",
                "HUB_CLOCK_FILE": str(demo.home / "clock-offset"),
                "HUB_ALLOW_CLOCK_FILE": "true", "OFFICER_PASSWORD": PASSWORD})  # fmt: skip
    hub_cli = [sys.executable, "-m", "hub.cli"]
    made = subprocess.run([*hub_cli, "console", "officer", "add", "qz-audit-07", "--scope",
                           "350500", "--password-env", "OFFICER_PASSWORD"], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    secret = re.search(r"one-time-code secret: ([A-Z2-7]+)", made)
    assert secret is not None
    port = free_port("127.0.0.1")
    with open(tmp_path / "console.log", "wb") as log:
        proc = subprocess.Popen([*hub_cli, "console", "--port", str(port)], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _up(url):
            assert time.monotonic() < deadline, (tmp_path / "console.log").read_text()
            time.sleep(0.3)
        script = demo.json("script.json")
        breached = next(s["ref"] for s in script["steps"] if s["action"] == "expect"
                        and s["args"].get("kind") == "BREACH"
                        and s["args"].get("stage") == "receipt")  # fmt: skip
        assert pyotp.TOTP(secret.group(1)).now()
        page = sign_in(browser, url, "qz-audit-07", secret.group(1))
        page.goto(f"{url}/?overdue=1&agency=PSB")  # type: ignore[attr-defined]
        page.click(f"a[href='/handoffs/{breached}']")  # type: ignore[attr-defined]
        timeline = page.inner_text("#timeline")  # type: ignore[attr-defined]
        # In the officers' words: the breach, the state, the agencies by name, no codes.
        assert "超期" in timeline and page.inner_text("#state") == "已送达"  # type: ignore[attr-defined]
        entry = page.inner_text("#entry")  # type: ignore[attr-defined]
        assert "晋江市公安局" in entry and "线索移送" in entry and "clue_transfer" not in entry
        assert "北京时间" in entry
        page.click("#verify")  # type: ignore[attr-defined]
        expect(page.locator("#verify-result")).to_contain_text(  # type: ignore[attr-defined]
            "verif", timeout=60_000
        )
        assert "verified in this browser" in page.inner_text("#verify-result")  # type: ignore[attr-defined]
        page.goto(f"{url}/weekly?region=350500&week={script['week']}")  # type: ignore[attr-defined]
        with page.expect_download() as download:  # type: ignore[attr-defined]
            page.click("#xlsx")  # type: ignore[attr-defined]
        book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
        weekly = [*hub_cli, "report", "weekly", "--region", "350500", "--week", script["week"],
                  "--format", "json"]  # fmt: skip
        as_json = json.loads(subprocess.run(weekly, env=env, cwd=ROOT, capture_output=True,
                                            text=True, check=True).stdout)  # fmt: skip
        assert as_json == demo.json("weekly.json")  # the week's figures, as the demo wrote them
        assert as_json["form3"]["national_total"]["total"] > 0
        assert mismatches(book, as_json) == []  # every figure cell, where the forms put it
        # The pictures and the 台账 of the demo's city, as docs/console.md shows them
        # (CONSOLE_SCREENSHOTS=docs rewrites those pictures).
        shots = Path(os.environ.get("CONSOLE_SCREENSHOTS", str(tmp_path)))
        page.goto(f"{url}/pictures")  # type: ignore[attr-defined]
        assert "MIB\tPSB" in page.inner_text("#flows-table")  # type: ignore[attr-defined]
        assert "350582" in page.inner_text("#overdue-table")  # type: ignore[attr-defined]
        page.screenshot(path=str(shots / "console-pictures.png"), full_page=True)  # type: ignore[attr-defined]
        page.goto(f"{url}/ledger?region=350500")  # type: ignore[attr-defined]
        assert breached in page.inner_text("#ledger")  # type: ignore[attr-defined]
        page.screenshot(path=str(shots / "console-ledger.png"), full_page=True)  # type: ignore[attr-defined]
        page.goto(f"{url}/handoffs/{breached}")  # type: ignore[attr-defined]
        # The departments checked the log's heads as they came and cosigned them.
        vouched = page.inner_text("#witnesses")  # type: ignore[attr-defined]
        assert re.search(r"cosigned by (\d+) agencies", vouched), vouched
        assert "covers every record of this hand-off's custody" in vouched
        page.screenshot(path=str(shots / "console-breach.png"), full_page=True)  # type: ignore[attr-defined]
        trail = [*hub_cli, "audit", "trail", breached, "--json"]
        looks = subprocess.run(trail, env=env, cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout  # fmt: skip
        assert any(s["kind"] == "console_look" and s["facts"]["officer"] == "qz-audit-07"
                   for s in json.loads(looks))  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(20)


def test_keep_running_serves_the_console_in_the_demo_s_week(demo: DemoRun) -> None:
    """The console beside the demo hub, with the supervisor it printed, lives in the demo's week
    (one clock per home): "overdue only" lists the clue 晋江's police never signed for."""
    import httpx
    import pyotp

    url = re.search(r"the officers' console: (http://\S+)", demo.output)
    who = re.search(r"sign in as (\S+), password (\S+)", demo.output)
    secret = re.search(r"add the secret ([A-Z2-7]+)", demo.output)
    assert url and who and secret, demo.output[-2000:]
    script = demo.json("script.json")
    breached = next(s["ref"] for s in script["steps"] if s["action"] == "expect"
                    and s["args"].get("kind") == "BREACH"
                    and s["args"].get("stage") == "receipt")  # fmt: skip
    with httpx.Client(base_url=url.group(1), follow_redirects=True) as officer:
        form = officer.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]*)"', form.text)
        assert csrf is not None
        signed_in = officer.post("/login", data={
            "csrf": csrf.group(1), "name": who.group(1), "password": who.group(2),
            "code": pyotp.TOTP(secret.group(1)).now(),
        })  # fmt: skip
        assert signed_in.status_code == 200 and "退出" in signed_in.text, signed_in.text
        overdue = officer.get("/", params={"overdue": "1"})
        # On the wall clock nothing would be overdue: the demo's week lies ahead of it.
        row = next(r for r in overdue.text.split("<tr") if f"/handoffs/{breached}" in r)
        assert 'class="overdue"' in row and "已超期" in row
        page = officer.get(f"/handoffs/{breached}")
        assert page.status_code == 200 and '<span title="sla_breach">超期</span>' in page.text
