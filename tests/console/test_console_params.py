"""Whatever an officer's browser puts in a URL gets a plain 400 or a page, never a 500; every
answer carries the security headers; a hand-off id off the alphabet forges no log line.

Includes a bounded property-based run (Hypothesis, as the gateway's Schemathesis run uses) over
every GET page and every query parameter the console reads."""

from __future__ import annotations

import logging
import string
import urllib.parse

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.console.app import create_app
from hub.console.params import RULES
from hub.console.service import Console
from tests.console.conftest import Producer, delivered_clue, sign_in
from tests.runtime.test_ingress_pipeline import Rig

PAGES = ["/", "/weekly", "/weekly/print", "/weekly.xlsx", "/pictures", "/ledger", "/ledger.xlsx",
         "/looks"]  # fmt: skip


@pytest.fixture
def officer(console: Console) -> TestClient:
    client = TestClient(create_app(console), follow_redirects=False)
    sign_in(client, console, "qz-audit-01")
    return client


@pytest.mark.parametrize(
    ("path", "query"),
    [("/", {"region": "abc"}), ("/", {"since": "0001-01-01"}), ("/", {"until": "9999-12-31"}),
     ("/ledger", {"since": "0001-01-01"}), ("/ledger.xlsx", {"until": "9999-12-31"}),
     ("/pictures", {"since": "0001-01-01", "until": "9999-12-31"}),
     ("/weekly/print", {"week": "9999-W52"}), ("/weekly.xlsx", {"week": "2026-W99"}),
     ("/", {"page": "-1"}), ("/", {"family": "<b>x</b>"}), ("/", {"state": "x"})],
)  # fmt: skip
def test_a_parameter_off_its_shape_is_a_plain_400_not_a_500(
    officer: TestClient, path: str, query: dict[str, str]
) -> None:
    answer = officer.get(path, params=query)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert "must be" in answer.text


@pytest.mark.parametrize(
    "bad", ["a%0aforged INFO line", "x" * 64 + "<b>x", "空格", "..%2f..%2fetc"]
)
def test_a_hand_off_id_off_the_alphabet_is_refused_before_it_reaches_a_log_or_the_audit(
    officer: TestClient, looks: Producer, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    before = len(looks.looks)
    with caplog.at_level(logging.INFO):
        answer = officer.get(f"/handoffs/{bad}")
    assert answer.status_code in (400, 404) and answer.status_code != 500
    assert len(looks.looks) == before  # nothing of it was written to the audit log
    hub_lines = [r.getMessage() for r in caplog.records if r.name.startswith("hub")]
    assert not any("forged" in line or "\n" in line for line in hub_lines)


def test_every_answer_carries_the_security_headers_and_case_pages_are_not_cached(
    rig: Rig, officer: TestClient
) -> None:
    mid = delivered_clue(rig)
    for path in [*PAGES, f"/handoffs/{mid}", "/login", "/handoffs/nope"]:
        answer = officer.get(path)
        headers = answer.headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer", path
        assert "script-src 'self'" in headers["content-security-policy"], path
        expected = "'self'" if path == "/weekly/print" else "'none'"
        assert f"frame-ancestors {expected}" in headers["content-security-policy"], path
        assert headers["cache-control"] == "no-store", path
        assert "content-type" in headers, path


TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["0001-01-01", "9999-12-31", "2026-W53", "9999-W52", "-1", "99999999", "350582", "PSB@350582",
     "%00", "\n", "=1+1", "" , " "]
)  # fmt: skip


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(path=st.sampled_from([*PAGES, "/handoffs/{id}", "/handoffs/{id}/proofs"]),
       query=st.dictionaries(st.sampled_from(sorted(RULES)), TEXT, max_size=4),
       ident=st.text(alphabet=string.printable, min_size=1, max_size=70))  # fmt: skip
def test_no_query_the_browser_can_send_makes_the_console_fail(
    officer: TestClient, path: str, query: dict[str, str], ident: str
) -> None:
    answer = officer.get(path.replace("{id}", urllib.parse.quote(ident, safe="")), params=query)
    assert answer.status_code < 500, (path, query, answer.text[:200])
    # 307: Starlette's redirect of a trailing slash (an id ending in an encoded "/"), empty body.
    assert "content-type" in answer.headers or answer.status_code in (303, 304, 307)
