"""Crash drill: `kill -9` the hub several times under a steady load, restart it, and check that
nothing was lost or doubled.

A standalone Tansu broker (so the data outlives the hub) and a fresh hub home; a sender writes
signed clues to hub.ingress at a steady rate while the drill kills `hub run` with SIGKILL and
starts it again, several times.  At the end:

* every message is in the recipient's inbox (at least once: at-least-once delivery),
* each is delivered once in the store (one row per id),
* the audit log holds exactly one ``delivered`` record per message,
* ``hub audit verify`` passes,

and it prints the time from each restart to the hub routing again.

    .venv/bin/python ops/drills/crash.py --messages 3000 --kills 5     # the long drill
    ./dev test tests/e2e/test_crash_drill.py                              # the short one in CI
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hub.audit.store import AuditStore  # noqa: E402
from hub.core.clock import now_utc  # noqa: E402
from hub.core.config import load_settings  # noqa: E402
from hub.runtime.broker import EmbeddedBroker  # noqa: E402
from hub.storage.store import Store  # noqa: E402
from hub.trust.address import Address  # noqa: E402
from hub.trust.directory import load_signing_key  # noqa: E402
from hub.trust.directory_file import load_directory  # noqa: E402
from hub.wire.envelope import seal  # noqa: E402
from hub.wire.jsonpayload import from_json  # noqa: E402
from hub.wire.schemas import SchemaRegistry  # noqa: E402
from hub.wire.topics import INGRESS  # noqa: E402

SENDER, RECIPIENT = Address("MIB", "350582"), Address("PSB", "350582")


@dataclass
class Report:
    sent: list[str] = field(default_factory=list)
    restarts_to_routing_s: list[float] = field(default_factory=list)
    in_inbox: int = 0
    inbox_copies: int = 0
    delivered_rows: int = 0
    audit_delivered: Counter[str] = field(default_factory=Counter)
    verify_ok: bool = False

    @property
    def ok(self) -> bool:
        ids = set(self.sent)
        return (
            self.in_inbox == len(ids)
            and self.delivered_rows == len(ids)
            and all(self.audit_delivered[i] == 1 for i in ids)
            and self.verify_ok
        )

    def lines(self) -> list[str]:
        restarts = ", ".join(f"{s:.1f}" for s in self.restarts_to_routing_s)
        once = sum(1 for i in set(self.sent) if self.audit_delivered[i] == 1)
        return [
            f"messages sent                 {len(self.sent)}",
            f"restart → routing again (s)   {restarts}",
            f"in the inbox                  {self.in_inbox} ({self.inbox_copies} copies read)",
            f"delivered rows in the store   {self.delivered_rows}",
            f"one 'delivered' audit record  {once}",
            f"hub audit verify              {'passes' if self.verify_ok else 'FAILS'}",
            "drill passed" if self.ok else "DRILL FAILED",
        ]


class Hub:
    """`hub run` against an external broker, started and SIGKILLed at will."""

    def __init__(self, home: Path, bootstrap: str, session_timeout_s: float | None = None) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        self.env.update(
            HUB_HOME=str(home), HUB_KAFKA_BOOTSTRAP=bootstrap, HUB_DEV_DIRECTORY="always"
        )
        if session_timeout_s is not None:
            self.env.update(
                HUB_SESSION_TIMEOUT_S=str(session_timeout_s),
                HUB_HEARTBEAT_INTERVAL_S=str(min(1.0, session_timeout_s / 4)),
            )
        self.log = home / "hub-run.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        ready_before = self._ready_count()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "run"],
                env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while self._ready_count() <= ready_before:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hub did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def _ready_count(self) -> int:
        return self.log.read_text(errors="replace").count("hub ready:") if self.log.exists() else 0

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        # Its audit sink watches for its parent and stops by itself; give it a moment.
        time.sleep(1.0)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", *args],
            env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip


def send_steadily(
    bootstrap: str, home: Path, n: int, rate: float, report: Report, done: threading.Event
) -> None:
    """At ``rate`` per second until ``done`` is set and at least ``n`` were sent."""
    from kafka import KafkaProducer

    settings = load_settings(home=home)
    registry = SchemaRegistry.load(settings.schemas_path)
    key = load_signing_key(settings.keys_dir, SENDER, load_directory(settings))
    schema = registry.latest("clue_transfer")
    example = json.loads((ROOT / "examples/payloads/clue_transfer.json").read_text("utf-8"))
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=10)
    try:
        i = 0
        while i < n or not done.is_set():
            i += 1
            mid = str(uuid.uuid4())
            payload = from_json(schema.raw, {**example, "clue_id": f"CRASH-{i}"})
            _, raw = seal(
                registry, family="clue_transfer", payload_schema=schema, payload=payload,
                sender=SENDER, recipient=RECIPIENT, key=key, message_id=mid, created_at=now_utc(),
            )  # fmt: skip
            producer.send(INGRESS.name, key=mid.encode(), value=raw).get(60)
            report.sent.append(mid)
            time.sleep(1 / rate)
    finally:
        producer.close()


def wait_for(condition: object, timeout: float, every_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(every_s)
    return False


def run_drill(
    work: Path,
    *,
    messages: int,
    kills: int,
    rate: float,
    timeout: float = 600,
    session_timeout_s: float | None = None,
) -> Report:
    report = Report()
    home = work / "home"
    broker = EmbeddedBroker(log_file=work / "broker.log").start()
    hub = Hub(home, broker.bootstrap, session_timeout_s)
    try:
        hub.start()
        store = Store(load_settings(home=home).effective_store_url)
        kills_done = threading.Event()
        sender = threading.Thread(
            target=send_steadily,
            args=(broker.bootstrap, home, messages, rate, report, kills_done),
        )
        sender.start()
        for _ in range(kills):
            time.sleep(max(2.0, messages / rate / (kills + 1)))
            hub.kill()
            before = store.count_deliveries()
            restarted = time.monotonic()
            hub.start()
            # Asked often: the figure is the restart's, not the polling's.
            if wait_for(lambda b=before: store.count_deliveries() > b, 120, every_s=0.02):
                report.restarts_to_routing_s.append(time.monotonic() - restarted)
        kills_done.set()
        sender.join()
        ids = set(report.sent)
        # Every id, not a count: the hub's own messages (weekly duties, SLA events) are rows too.
        wait_for(lambda: set(store.deliveries_by_id(list(ids))) >= ids, timeout)
        report.delivered_rows = sum(1 for i in ids if store.was_delivered(i))
        audit = AuditStore(load_settings(home=home).effective_audit_url, migrate_schema=False)

        def count_audit() -> bool:
            report.audit_delivered = Counter(
                r["message_id"]
                for r in audit.search(kinds=["delivered"], limit=10 * len(ids) + 100)
            )
            return all(report.audit_delivered[i] >= 1 for i in ids)

        wait_for(count_audit, 120)
        from connectors.client import Connector

        seen: Counter[str] = Counter()
        conn = Connector.from_settings(
            load_settings(home=home), RECIPIENT, bootstrap=broker.bootstrap, signing=False
        )
        with conn:
            for msg in conn.messages(idle_timeout_s=5.0):
                seen[msg.message_id] += 1
        report.in_inbox = sum(1 for i in ids if seen[i])
        report.inbox_copies = sum(seen[i] for i in ids)
        hub.stop()
        report.verify_ok = hub.cli("audit", "verify").returncode == 0
    finally:
        hub.stop()
        broker.stop()
    return report


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--kills", type=int, default=4)
    ap.add_argument("--rate", type=float, default=40.0, help="messages per second")
    ap.add_argument("--workdir", type=Path, help="keep the broker log and hub home here")
    ap.add_argument(
        "--session-timeout",
        type=float,
        metavar="S",
        help="the hub's consumer session timeout (default: the hub's, 6 s); Tansu "
        "holds a join for about half of it",
    )
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hub-crash-"))
    report = run_drill(
        work,
        messages=args.messages,
        kills=args.kills,
        rate=args.rate,
        session_timeout_s=args.session_timeout,
    )
    print("\n".join(report.lines()))
    print(f"(logs in {work})", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
