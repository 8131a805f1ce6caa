"""The console's fixtures: a pipeline rig, a clock the tests move, the audit producer the
officers' looks go to, and a console with three officers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from hub.audit.emit import AuditPublisher
from hub.audit.store import AuditStore
from hub.console.app import create_app
from hub.console.auth import make_officer
from hub.console.looks import LookLog
from hub.console.service import Console
from hub.runtime.ingress.pipeline import DELIVERED
from tests.runtime.test_ingress_pipeline import Rig

PASSWORD = "correct horse battery"


class Producer:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.looks: list[dict[str, Any]] = []

    def send(self, topic: str, *, key: bytes, value: bytes, headers: list[Any]) -> Any:
        self.looks.append(self.rig.read_audit(value))
        return self

    def get(self, timeout: float | None = None) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path / "hub")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def looks(rig: Rig) -> Producer:
    return Producer(rig)


@pytest.fixture
def console(rig: Rig, tmp_path: Path, clock: Clock, looks: Producer) -> Console:
    s = rig.services
    c = Console(
        store=s.store,
        audit=AuditStore(f"sqlite:///{tmp_path / 'audit.db'}"),
        directory=lambda: s.directory.current,
        calendar=s.calendar,
        looks=LookLog(AuditPublisher(s.registry, s.audit_mac), looks),
        clock=clock,
        code_clock=clock,
        archive_dir=tmp_path / "archives",
    )
    for name, role, scope in (("qz-audit-01", "officer", "350500"),
                              ("pt-audit-01", "officer", "350300"),
                              ("fj-super-01", "supervisor", "350000")):  # fmt: skip
        c.officers.add(make_officer(name, PASSWORD, role=role, scope=scope, cert_sha256=None,
                                    now=clock.now).officer)  # fmt: skip
    return c


@pytest.fixture
def browser(console: Console) -> TestClient:
    return TestClient(create_app(console), follow_redirects=False)


def code_for(console: Console, name: str, at: datetime) -> str:
    officer = console.officers.get(name)
    assert officer is not None
    return pyotp.TOTP(officer.totp_secret).at(at)


def sign_in(browser: TestClient, console: Console, name: str, *, code: str | None = None,
            password: str = PASSWORD, at: datetime | None = None) -> Any:  # fmt: skip
    form = browser.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]*)"', form.text)
    assert csrf is not None
    return browser.post("/login", data={
        "csrf": csrf.group(1), "name": name, "password": password,
        "code": code or code_for(console, name, at or console.clock()),
    })  # fmt: skip


def delivered_clue(rig: Rig, to: str = "PSB@350582") -> str:
    mid, raw = rig.message(to=to)
    assert rig.handle(rig.record(raw)).kind == DELIVERED
    return mid
