"""Playing the scripted week through a running hub, with progress, then the week's outputs.

Each step moves the hub's clock to the step's moment, does what the step says with the actor's
connector, and waits for its effect (the message in the recipient's inbox, the answer in the
ledger, the SLA event fired), so the next step starts from a settled hub: the same seed gives the
same ledger, the same audit facts and the same report on every run.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hub.audit.store import AuditStore
from hub.core.clock import BEIJING
from hub.demo import scenario, week
from hub.demo.agencies import Agency, Department, finance_bureau
from hub.demo.console import start_console
from hub.demo.files import evidence
from hub.demo.gateway_agency import GatewayAgency
from hub.demo.hub import DemoHub
from hub.demo.scenario import Script, Step
from hub.lifecycle.ledger import Ledger
from hub.report.render import to_html, to_text
from hub.report.travel import upward_report
from hub.report.weekly import weekly_report_from_store
from hub.runtime import board_page
from hub.sla.weekly import duty_id
from hub.sla.workdays import default_calendar
from hub.storage.store import Store
from hub.trust.address import Address
from hub.wire.jsonpayload import from_json

WEEKDAYS = "一二三四五六日"


@dataclass
class Outcome:
    web_url: str
    board: dict[str, Any]
    report: dict[str, Any]
    verify: str
    seconds: float


class Player:
    def __init__(
        self, hub: DemoHub, agencies: dict[str, Department], say: Callable[[str], None]
    ) -> None:
        self.hub = hub
        self.agencies = agencies
        self.say = say
        #: Where the evidence the script sends is made (beside the hub's home).
        self.files = hub.home / "demo-files"
        settings = hub.settings()
        self.store = Store(settings.effective_store_url)
        self.ledger = Ledger(self.store.engine)

    def play(self, script: Script) -> None:
        total = len(script.steps)
        for n, step in enumerate(script.steps, start=1):
            self.hub.move_to(step.at)
            when = step.at.astimezone(BEIJING)
            how = "（经 HTTP 网关）" if step.actor in scenario.VIA_GATEWAY else ""
            self.say(
                f"[{n:3d}/{total}] 周{WEEKDAYS[when.weekday()]} {when:%m-%d %H:%M}  {step.say}{how}"
            )
            self.do(step)

    def do(self, step: Step) -> None:
        if step.action == "send":
            sender = self.agencies[step.actor]
            if not isinstance(sender, Agency):
                raise TypeError(f"{step.actor} sends nothing in the script; it has no connector")
            conn = sender.connector
            schema = conn.registry.latest(step.family)
            payload = from_json(schema.raw, step.payload)
            files = (
                evidence(self.files, step.ref, list(step.args["evidence"]))
                if step.args.get("evidence")
                else []
            )
            conn.send(step.family, step.to, payload, message_id=step.ref, documents=files)
            if "dead_letter" in step.args:
                _wait(lambda: self._dead_lettered(step.ref), f"dead letter of {step.ref}")
                self.say(f"          → {step.args['dead_letter']}")
            else:
                self.agencies[step.to].wait_for(step.ref)
            return
        if step.action == "expect":
            self._expect(step)
            return
        if step.action == "weekly":
            self._weekly(step)
            return
        reply = self.agencies[step.actor].answer(step.action, step.ref, dict(step.args))
        _wait(lambda: self.ledger.reply_applied(reply), f"{step.action} {reply} applied")

    def _weekly(self, step: Step) -> None:
        """The bureau's weekly report, from the log, with the processing reports it sent."""
        bureau = self.agencies[step.actor]
        assert isinstance(bureau, Agency), "weekly reports are sent by connectors in the script"
        audit = AuditStore(self.hub.settings().effective_audit_url, migrate_schema=False)
        settle_audit(audit)  # the week's closures are in the log before it is summed up
        me, week = Address.parse(step.actor), str(step.args["week"])
        conn = bureau.connector
        above, payload = upward_report(
            audit, me, week, set(conn.directory().connectors), [c for c, _ in bureau.reports]
        )
        audit.close()
        conn.send("weekly_report", above, payload, correlation_id=duty_id(me, week),
                  documents=[path for _, path in bureau.reports])  # fmt: skip
        duty = duty_id(me, week)
        _wait(lambda: (self.ledger.entry(duty) or {}).get("state") == "CLOSED", f"{duty} closed")
        self.say(f"          → {len(payload['figures'])} figures, {len(bureau.reports)} 处理报告")

    def _dead_lettered(self, message_id: str) -> bool:
        return any(r["message_id"] == message_id for r in self.store.dead_letters(limit=100))

    def _expect(self, step: Step) -> None:
        if "family" in step.args:  # an answer the other side gives by itself
            asker = self.agencies[step.actor]
            assert isinstance(asker, Agency), "answers are awaited by connectors in the script"
            answer = asker.wait_for_answer(step.ref, step.args["family"])
            self.say(f"          → {answer.payload.get('result')}")
            return
        kind, stage = step.args["kind"], step.args["stage"]

        def fired() -> bool:
            return any(e.kind == kind and e.stage == stage for e in self.ledger.events(step.ref))

        _wait(fired, f"{kind} of {step.ref} {stage}")


def _wait(done: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo waited {timeout_s:.0f} s for {what}")
        time.sleep(0.05)


def settle_audit(audit: AuditStore, quiet_s: float = 2.0, timeout_s: float = 60.0) -> int:
    """Wait until the audit sink has appended everything (its count still for ``quiet_s``)."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = audit.count()
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return n
        time.sleep(0.2)
    return last


def run_demo(
    home: Path,
    *,
    seed: int = 2024,
    monday: date | None = None,
    web_port: int = 0,
    say: Callable[[str], None] = print,
    hold: Callable[[str], None] | None = None,
    suite: str = "intl",
) -> Outcome:
    """Start the hub and the departments, play the week, print what it left; with ``hold``
    (given the board's URL) the officers' console starts too, with a ready-made supervisor whose
    sign-in is said, and both stop when ``hold`` returns."""
    began = time.monotonic()
    if monday is None:
        monday = scenario.next_plain_monday(datetime.now(UTC), default_calendar().is_workday)
    script = week.build(seed, monday)
    # What the departments' connectors log is the demo's own progress lines, said better.
    logging.getLogger("connectors").setLevel(logging.WARNING)
    logging.getLogger("responders").setLevel(logging.WARNING)
    # kafka-python logs a client closed mid-request at ERROR ("Metadata refresh: failed
    # Cancelled"); the demo says what happens in its own lines.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    out = home / "demo"
    out.mkdir(parents=True, exist_ok=True)
    (out / "script.json").write_text(
        json.dumps(script.to_json(), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    hub = DemoHub(home, web_port=web_port, suite=suite)
    hub.move_to(script.steps[0].at)
    with ExitStack() as stack:
        say(f"starting the hub in {home} (embedded broker, SQLite, {suite} suite) ...")
        web_url = hub.start()
        stack.callback(hub.stop)
        settings = hub.settings()
        bootstrap = hub.bootstrap()
        say(f"hub ready at {web_url}; opening {len(scenario.DEPARTMENTS)} departments' inboxes ...")
        connectors = {
            a: Agency(settings, a, bootstrap)
            for a in scenario.DEPARTMENTS
            if a not in scenario.VIA_GATEWAY
        }
        finance_bureau(connectors[scenario.FIN], f"sqlite:///{out / 'fin-register.db'}")
        for agency in connectors.values():
            agency.start()
        stack.callback(stop_all, list(connectors.values()))
        agencies: dict[str, Department] = dict(connectors)
        for address in scenario.VIA_GATEWAY:
            gateway = GatewayAgency(address, home, hub.env)
            stack.callback(gateway.stop)
            agencies[address] = gateway.start()
            say(f"{address} takes part through its HTTP gateway at {gateway.base}")
        say(f"playing 泉州 week {script.week}, seed {seed}: {len(script.steps)} steps")
        Player(hub, agencies, say).play(script)
        hub.move_to(script.end)
        say("week over: waiting for the last SLA timers and the audit sink ...")
        time.sleep(1.0)
        audit = AuditStore(settings.effective_audit_url, migrate_schema=False)
        records = settle_audit(audit)
        checkpoint = _hub(hub, "audit", "checkpoint")  # the week's log, signed as it stands
        store = Store(settings.effective_store_url)
        view = board_page.gather(Ledger(store.engine), store, lambda: audit, script.end)
        report = weekly_report_from_store(audit, scenario.REGION, script.week)
        (out / "weekly.json").write_text(
            json.dumps(report.to_json(), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        (out / "weekly.html").write_text(to_html(report), encoding="utf-8")
        (out / "board.html").write_text(board_page.render_html(view), encoding="utf-8")
        (out / "board.json").write_text(
            json.dumps(view, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        say("")
        say(board_page.render_text(view))
        say("")
        say(to_text(report))
        verify = _hub(hub, "audit", "verify")
        say(checkpoint.splitlines()[0] if checkpoint else "")
        say(verify)
        say(
            f"{records} audit records; outputs in {out} (script.json, weekly.json, weekly.html, "
            f"board.html, board.json); the board: {web_url}/board"
        )
        if hold is not None:
            console = start_console(hub.env, home)
            stack.callback(console.stop)
            for line in console.sign_in_lines():
                say(line)
            hold(web_url)
    return Outcome(web_url, view, report.to_json(), verify, time.monotonic() - began)


def stop_all(agencies: list[Agency]) -> None:
    """Every department told to stop first, then each waited for: their readers wind down
    together (one by one took a second each, most of a Ctrl-C's wait)."""
    for agency in agencies:
        agency.stop()
    # Each reader leaves its group and each connector closes its clients: together, not in turn.
    with ThreadPoolExecutor(max_workers=len(agencies) or 1) as pool:
        list(pool.map(lambda a: a.join(), agencies))


def _hub(hub: DemoHub, *command: str) -> str:
    """What ``hub COMMAND`` prints for the demo's hub, as an operator would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *command],
        env=hub.env,
        capture_output=True,
        text=True,
        check=False,
    )
    return (done.stdout + done.stderr).strip()
