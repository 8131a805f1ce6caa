"""The console in Debian's Chromium, driven by Playwright, against a real `hub run` and a real
`hub console`: an officer made on the command line signs in with a password and a one-time
code, finds a clue by its id, reads its custody, and downloads the week's report as a workbook
equal to the command line's; an officer of another city gets the 404 of an id that does not
exist; every look, the refused one too, is in the audit log, in the trail of the hand-off
looked at.  The pages' CSP forbids eval, so the tests wait with locators, never JS strings."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, expect

from hub.runtime.broker import free_port
from hub.sla.weekly import week_of
from tests.e2e.test_end_to_end import payload
from tests.gatewayproc import spawn_cli
from tests.hubproc import HubProcess, wait_for_messages, wait_until
from tests.report.workbook_json import mismatches

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def officers(hub: HubProcess) -> dict[str, str]:
    """Officers of 泉州 (350500) and 莆田 (350300), their TOTP secrets by name; each test signs in
    as its own, since a one-time code is refused the second time within its 30 s."""
    secrets = {}
    for name, scope in (("qz-audit-01", "350500"), ("pt-audit-01", "350300"),
                        ("qz-a11y-01", "350500")):  # fmt: skip
        out = subprocess.run(
            [sys.executable, "-m", "hub.cli", "console", "officer", "add", name, "--scope", scope,
             "--password-env", "OFFICER_PASSWORD"],
            env={**hub.env, "OFFICER_PASSWORD": PASSWORD}, capture_output=True, text=True,
            check=True,
        ).stdout  # fmt: skip
        found = re.search(r"one-time-code secret: ([A-Z2-7]+)", out)
        assert found is not None, out
        secrets[name] = found.group(1)
    return secrets


@pytest.fixture(scope="module")
def console_url(hub: HubProcess, officers: dict[str, str]) -> Iterator[str]:
    port = free_port("127.0.0.1")
    proc, _log = spawn_cli(hub, "console", "console", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url), timeout=60, what="hub console")
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def _up(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/login", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def sign_in(browser: Browser, url: str, name: str, secret: str) -> object:
    page = browser.new_page(accept_downloads=True)
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    try:
        page.wait_for_url(f"{url}/")
    except Exception as exc:  # say why the console refused (a spent one-time code, once)
        raise AssertionError(f"sign-in as {name} refused: {page.inner_text('body')[:500]}") from exc
    return page


def test_an_officer_finds_reads_and_takes_away_and_every_look_is_audited(
    hub: HubProcess, console_url: str, officers: dict[str, str], browser: Browser,
    tmp_path: Path,
) -> None:  # fmt: skip
    mib = hub.connector("MIB@350582")
    mid = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
    wait_for_messages(hub.connector("PSB@350582", signing=False), [mid])

    page = sign_in(browser, console_url, "qz-audit-01", officers["qz-audit-01"])
    page.fill("input[name=message_id]", mid)  # type: ignore[attr-defined]
    page.click("form.filters button[type=submit]")  # type: ignore[attr-defined]
    shots_search = Path(os.environ.get("CONSOLE_SCREENSHOTS", str(tmp_path)))
    page.screenshot(path=str(shots_search / "console-search.png"), full_page=True)  # type: ignore[attr-defined]
    page.click(f"a[href='/handoffs/{mid}']")  # type: ignore[attr-defined]
    assert page.inner_text("#message-id") == mid  # type: ignore[attr-defined]
    wait_until(lambda: "送达" in _reload(page, "#timeline"), what="the custody timeline")
    assert "✓" in page.inner_text("#timeline")  # type: ignore[attr-defined]

    # The proofs, checked by the page's own JavaScript against the pinned key …
    page.click("#verify")  # type: ignore[attr-defined]
    expect(page.locator("#verify-result")).to_contain_text(  # type: ignore[attr-defined]
        "verified", timeout=60_000
    )
    assert "verified in this browser" in page.inner_text("#verify-result")  # type: ignore[attr-defined]
    assert "FAILED" not in page.inner_text("#verify-result")  # type: ignore[attr-defined]
    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS", str(tmp_path)))  # docs/: the pictures
    page.screenshot(path=str(shots / "console-handoff.png"), full_page=True)  # type: ignore[attr-defined]

    # … and a proof altered on its way to the browser fails there.
    def tamper(route: Any) -> None:
        proofs = route.fetch().json()
        first = proofs["records"][0]
        first["proof"][0] = ("0" if first["proof"][0][0] != "0" else "1") + first["proof"][0][1:]
        route.fulfill(json=proofs)

    page.route(f"**/handoffs/{mid}/proofs", tamper)  # type: ignore[attr-defined]
    page.click("#verify")  # type: ignore[attr-defined]
    expect(page.locator("#verify-result")).to_contain_text(  # type: ignore[attr-defined]
        "FAILED", timeout=60_000
    )
    assert "is not in the signed tree" in page.inner_text("#verify-result")  # type: ignore[attr-defined]
    page.unroute(f"**/handoffs/{mid}/proofs")  # type: ignore[attr-defined]

    week = week_of(datetime.now(UTC))
    page.goto(f"{console_url}/weekly?region=350582&week={week}")  # type: ignore[attr-defined]
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.click("#xlsx")  # type: ignore[attr-defined]
    got = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    cli = tmp_path / "cli.xlsx"
    hub.cli("report", "weekly", "--region", "350582", "--week", week, "--format", "xlsx",
            "--out", str(cli))  # fmt: skip
    want = load_workbook(cli)
    for name in want.sheetnames:
        assert [[c.value for c in r] for r in got[name].iter_rows()] == [
            [c.value for c in r] for r in want[name].iter_rows()
        ]
    as_json = json.loads(hub.cli("report", "weekly", "--region", "350582", "--week", week,
                                 "--format", "json").stdout)  # fmt: skip
    assert mismatches(got, as_json) == []  # every figure cell, where the forms put it

    # The printable page prints: Chromium's own PDF of it, each form on its own A4 page.
    page.goto(f"{console_url}/weekly/print?region=350582&week={week}")  # type: ignore[attr-defined]
    page.emulate_media(media="print")  # type: ignore[attr-defined]
    assert page.locator("table").count() >= 3  # type: ignore[attr-defined]
    pdf = page.pdf(prefer_css_page_size=True)  # type: ignore[attr-defined]
    page.emulate_media(media="screen")  # type: ignore[attr-defined]
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf)) >= 3  # each form on a page of its own

    other = sign_in(browser, console_url, "pt-audit-01", officers["pt-audit-01"])
    response = other.goto(f"{console_url}/handoffs/{mid}")  # type: ignore[attr-defined]
    assert response.status == 404 and "Not in your scope" in other.inner_text("#denied")  # type: ignore[attr-defined]

    def looks() -> list[dict]:
        steps = json.loads(hub.cli("audit", "trail", mid, "--json").stdout)
        return [s["facts"] for s in steps if s["kind"] == "console_look"]

    wait_until(lambda: len(looks()) >= 2, what="the looks in the hand-off's trail")
    seen = {(f["officer"], f["outcome"]) for f in looks()}
    assert {("qz-audit-01", "shown"), ("pt-audit-01", "denied")} <= seen


def _reload(page: object, selector: str) -> str:
    page.reload()  # type: ignore[attr-defined]
    return str(page.inner_text(selector))  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def gm_console(gm_hub: HubProcess) -> Iterator[tuple[str, str]]:
    """``hub console`` on the gm hub, and the TOTP secret of its officer."""
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "console", "officer", "add", "qz-audit-gm",
         "--scope", "350500", "--password-env", "OFFICER_PASSWORD"],
        env={**gm_hub.env, "OFFICER_PASSWORD": PASSWORD}, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    found = re.search(r"one-time-code secret: ([A-Z2-7]+)", out)
    assert found is not None, out
    port = free_port("127.0.0.1")
    proc, _log = spawn_cli(gm_hub, "console-gm", "console", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url), timeout=60, what="hub console on the gm hub")
        yield url, found.group(1)
    finally:
        proc.terminate()
        proc.wait(20)


def test_under_gm_the_page_checks_sm3_proofs_and_the_sm2_checkpoint_itself(
    gm_hub: HubProcess, gm_console: tuple[str, str], browser: Browser
) -> None:
    url, secret = gm_console
    mib = gm_hub.connector("MIB@350582")
    mid = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
    wait_for_messages(gm_hub.connector("PSB@350582", signing=False), [mid])
    page = sign_in(browser, url, "qz-audit-gm", secret)
    page.goto(f"{url}/handoffs/{mid}")  # type: ignore[attr-defined]
    wait_until(lambda: "送达" in _reload(page, "#timeline"), what="the custody timeline")
    page.click("#verify")  # type: ignore[attr-defined]
    # The page's CSP forbids eval: wait with a locator, not a JavaScript string.
    expect(page.locator("#verify-result")).to_have_class(  # type: ignore[attr-defined]
        re.compile(r"\S"), timeout=60_000
    )
    result = page.inner_text("#verify-result")  # type: ignore[attr-defined]
    assert "verified in this browser" in result and "(SM3, SM2)" in result

    def tamper(route: Any) -> None:
        proofs = route.fetch().json()
        proofs["checkpoint"] = proofs["checkpoint"].replace(
            f"\n{proofs['tree_size']}\n", f"\n{proofs['tree_size'] + 1}\n", 1
        )
        route.fulfill(json=proofs)

    page.route(f"**/handoffs/{mid}/proofs", tamper)  # type: ignore[attr-defined]
    page.click("#verify")  # type: ignore[attr-defined]
    expect(page.locator("#verify-result")).to_contain_text(  # type: ignore[attr-defined]
        "FAILED", timeout=60_000
    )
    assert "does not verify against the pinned key" in page.inner_text("#verify-result")  # type: ignore[attr-defined]


AXE = Path(__file__).resolve().parents[2] / ".cache" / "npm" / "node_modules" / "axe-core"


@pytest.mark.skipif(not (AXE / "axe.min.js").exists(), reason="axe-core not installed (npm)")
def test_every_page_is_reachable_by_keyboard_and_passes_axe_s_wcag_2_aa_rules(
    hub: HubProcess, console_url: str, officers: dict[str, str], browser: Browser,
) -> None:  # fmt: skip
    mib = hub.connector("MIB@350582")
    mid = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
    wait_for_messages(hub.connector("PSB@350582", signing=False), [mid])
    # axe is injected as a script: the test's own context lets it past the pages' CSP.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(f"{console_url}/login")
    # Signing in with the keyboard alone: Tab walks name → password → code → the button.
    # Its own officer: qz-audit-01's code may already be spent by another test within 30 s
    # (a one-time code is refused the second time: "code already used", seen in CI).
    page.focus("input[name=name]")
    page.keyboard.type("qz-a11y-01")
    for field, text in (
        ("password", PASSWORD),
        ("code", pyotp.TOTP(officers["qz-a11y-01"]).now()),
    ):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.name") == field
        page.keyboard.type(text)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "submit"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console_url}/")
    found: dict[str, list[Any]] = {}
    for path in ("/", "/?agency=PSB&overdue=1", f"/handoffs/{mid}", "/weekly", "/ledger",
                 "/pictures"):  # fmt: skip
        page.goto(f"{console_url}{path}")
        page.add_script_tag(path=str(AXE / "axe.min.js"))
        violations = page.evaluate(
            """async () => (await axe.run(document, {runOnly: {type: 'tag',
                 values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations
               .map(v => ({rule: v.id, help: v.help,
                           where: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
        )
        if violations:
            found[path] = violations
    context.close()
    assert found == {}
