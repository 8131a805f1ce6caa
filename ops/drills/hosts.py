"""Multi-host drill: the hub across hosts (network namespaces) through a host's death and cut
links, under steady load, and nothing lost or doubled.

Hosts, each a network namespace (``ops/drills/netns.py``) on a Kafka network, an SQL network or
both: ``broker`` (a standalone Tansu), ``store`` (PostgreSQL of its own, listening only there),
``hub-a`` and ``hub-b`` (each a ``hub run``: they share routing through the consumer group and
the jobs through leases in the store), ``sink`` (``hub audit sink``), ``agency-a`` and
``agency-b`` (the gateways of MIB@350582 and PSB@350582).  A sender on agency-a posts clues to
its gateway at a steady rate while the drill

1. kills hub-a with SIGKILL, then starts it again (takeover of routing and jobs by hub-b);
2. takes hub-a's link to the broker down for ``--cut`` seconds, then up (partitioned from Kafka);
3. takes hub-a's link to the store down for ``--cut`` seconds, then up (partitioned from SQL).

Afterwards: every clue the gateway accepted is delivered exactly once (one row per id, in
agency-b's gateway), the ledger and the audit log both have it, ``hub audit verify`` passes, and
once the hubs' clock passes every receipt deadline, each clue breaches exactly once.  It prints
the takeover and recovery times.

The broker's own restart is not drilled: this Tansu keeps topics in memory only (its postgres
and s3 storage engines are not in this build), so a restart is a new, empty broker, which a
Kafka cluster's rolling restart is not; the hub's redelivery after a lost broker is drilled by
``tests/e2e/test_redelivery.py``.  This kernel has no ``netem``: no latency or loss is added.

    sudo .venv/bin/python ops/drills/hosts.py --cut 30       # the long drill, ~3 min
    ./dev test tests/e2e/test_hosts_drill.py                 # the short one in CI (--cut 6)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ops.drills.netns import Host, Network, available  # noqa: E402

HOSTS = [
    Host("broker", {"kafka": 1}),
    Host("store", {"sql": 1}),
    Host("hub-a", {"kafka": 11, "sql": 11}),
    Host("hub-b", {"kafka": 12, "sql": 12}),
    Host("sink", {"kafka": 13, "sql": 13}),
    Host("agency-a", {"kafka": 21}),
    Host("agency-b", {"kafka": 22}),
]
BOOTSTRAP = "10.77.1.1:9092"
PG = "postgresql+psycopg://postgres@10.77.2.1:5432"
SENDER, RECIPIENT = "MIB@350582", "PSB@350582"
GATEWAY_PORT = 8080
ROUTING_ALL = "reading " + ", ".join(f"hub.ingress/{p}" for p in range(6))

#: Run inside agency-a: post a clue every 1/RATE s until STOP exists; each accepted id to IDS.
SENDER_SCRIPT = r"""
import json, sys, time, uuid, urllib.request
url, token, rate, ids, stop, payload = sys.argv[1:7]
body = json.dumps({"family": "clue_transfer", "to": "PSB@350582",
                   "payload": json.load(open(payload))}).encode()
out = open(ids, "a")
import os
while not os.path.exists(stop):
    key = uuid.uuid4().hex
    while True:  # the same key until the gateway answers: at most one clue per key
        req = urllib.request.Request(url, body, {"Authorization": "Bearer " + token,
            "Content-Type": "application/json", "Idempotency-Key": key})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                out.write(json.load(r)["id"] + "\n"); out.flush(); break
        except Exception as exc:
            time.sleep(0.5)
    time.sleep(1 / float(rate))
"""


@dataclass
class Report:
    sent: int = 0
    times: dict[str, float] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def print(self) -> None:
        print(f"clues accepted by agency-a's gateway  {self.sent}")
        for what, seconds in self.times.items():
            print(f"{what:<38} {seconds:.1f} s")
        for what, value in self.checks.items():
            print(f"{what:<38} {value}")
        print("drill passed" if not self.failures else "DRILL FAILED: " + "; ".join(self.failures))


def wait(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> float:
    """Seconds until ``condition`` holds; raises naming ``what`` past ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic() - started


class Drill:
    def __init__(
        self, work: Path, cut_s: float, rate: float, lease_s: float,
        session_timeout_s: float | None = None,
    ) -> None:  # fmt: skip
        self.work, self.cut_s, self.rate, self.lease_s = work, cut_s, rate, lease_s
        #: The hubs' group session (default: Kafka's floor, 6 s); CI's short drill uses 2 s.
        self.session_timeout_s = session_timeout_s
        self.net = Network(HOSTS)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.clock = work / "clock-offset"
        self.ids = work / "sent.ids"
        self.stop_file = work / "stop-sending"
        self.report = Report()
        self.pg_root: Path | None = None

    # -- hosts ---------------------------------------------------------------------------------
    def home(self, host: str) -> Path:
        return self.work / host

    def env(self, host: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        me = self.net.hosts[host]
        env.update(
            HUB_HOME=str(self.home(host)), HUB_KAFKA_BOOTSTRAP=BOOTSTRAP,
            HUB_STORE_URL=f"{PG}/hub", HUB_AUDIT_URL=f"{PG}/audit", HUB_AUDIT_SINK="false",
            HUB_DEV_DIRECTORY="always", HUB_JOB_LEASE_S=str(self.lease_s),
            HUB_TREE_HEAD_INTERVAL_S="5", HUB_CLOCK_FILE=str(self.clock),
            HUB_ALLOW_CLOCK_FILE="true", HUB_WEB_HOST=me.address("kafka"), HUB_WEB_PORT="6066",
            HUB_STARTUP_TIMEOUT_S="60",
        )  # fmt: skip
        if self.session_timeout_s is not None:
            session = self.session_timeout_s
            env.update(HUB_SESSION_TIMEOUT_S=str(session),
                       HUB_HEARTBEAT_INTERVAL_S=str(min(1.0, session / 4)))  # fmt: skip
        return env

    def log(self, host: str) -> Path:
        return self.home(host) / "drill.log"

    def log_text(self, host: str) -> str:
        path = self.log(host)
        return path.read_text(errors="replace") if path.exists() else ""

    def hub_cli(self, host: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.net.run(host, [sys.executable, "-m", "hub.cli", *args], env=self.env(host))

    def start_hub_process(self, host: str, *args: str) -> None:
        self.home(host).mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "hub.cli", *args]
        self.procs[host] = self.net.start(
            host, argv, env=self.env(host), log=self.log(host), cwd=ROOT
        )

    def reaches(self, host: str, address: str, port: int) -> bool:
        probe = f"import socket; socket.create_connection(('{address}', {port}), 1).close()"
        return self.net.run(host, [sys.executable, "-c", probe], timeout=10).returncode == 0

    # -- start ---------------------------------------------------------------------------------
    def start_broker(self) -> None:
        from hub.runtime.broker import tansu_binary

        url = f"tcp://{BOOTSTRAP}"
        env = {**os.environ, "RUST_LOG": "warn"}
        self.procs["broker"] = self.net.start(
            "broker", [tansu_binary(), "broker", "--listener-url", url,
                       "--advertised-listener-url", url],
            env=env, log=self.work / "broker.log",
        )  # fmt: skip
        wait(lambda: self.reaches("hub-a", "10.77.1.1", 9092), 30, "the broker to answer", 0.3)

    def start_store(self) -> None:
        bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        # A folder of its own the postgres user can reach (the work folder may sit under one
        # only root can enter); removed when the drill ends.
        self.pg_root = Path(tempfile.mkdtemp(prefix="hub-hosts-pg-"))
        self.pg_root.chmod(0o755)
        data, sock = self.pg_root / "data", self.pg_root / "sock"
        for d in (data, sock):
            d.mkdir()
            shutil.chown(d, "postgres", "postgres")
        subprocess.run(["runuser", "-u", "postgres", "--", str(bin_dir / "initdb"), "-D",
                        str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True)  # fmt: skip
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 10.77.2.0/24 trust\n")
        self.procs["store"] = self.net.start(
            "store", [str(bin_dir / "postgres"), "-D", str(data), "-c",
                      "listen_addresses=10.77.2.1", "-c", f"unix_socket_directories={sock}",
                      "-c", "fsync=off"],
            user="postgres", log=self.work / "postgres.log",
        )  # fmt: skip
        wait(lambda: self.reaches("hub-a", "10.77.2.1", 5432), 30, "PostgreSQL to answer", 0.3)
        for db in ("hub", "audit"):
            done = self.net.run("hub-a", ["psql", "-h", "10.77.2.1", "-U", "postgres", "-c",
                                          f"CREATE DATABASE {db}"])  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"CREATE DATABASE {db}: {done.stderr}")

    def start_hubs(self) -> None:
        self.start_hub_process("hub-a", "run")
        wait(lambda: "hub ready:" in self.log_text("hub-a"), 90, "hub-a to start", 0.2)
        # The other hosts get hub-a's keys and signed directory, as an operator would copy them.
        for host in ("hub-b", "sink", "agency-a", "agency-b"):
            home = self.home(host)
            shutil.copytree(self.home("hub-a") / "keys", home / "keys", dirs_exist_ok=True)
            for name in ("directory.json", "directory-anchor.json"):
                shutil.copy2(self.home("hub-a") / name, home / name)
        self.start_hub_process("hub-b", "run")
        self.start_hub_process("sink", "audit", "sink", "--metrics-port", "0")
        for host, address in (("agency-a", SENDER), ("agency-b", RECIPIENT)):
            me = self.net.hosts[host].address("kafka")
            self.start_hub_process(host, "gateway", "--as", address, "--host", me,
                                   "--port", str(GATEWAY_PORT))  # fmt: skip
        wait(lambda: "hub ready:" in self.log_text("hub-b"), 90, "hub-b to start", 0.2)
        for host, address in (("agency-a", SENDER), ("agency-b", RECIPIENT)):
            token = self.home(host) / "gateway" / f"{address}.token"
            me = self.net.hosts[host].address("kafka")
            wait(lambda t=token, h=host, m=me: t.exists() and self.reaches(h, m, GATEWAY_PORT),
                 60, f"{host}'s gateway to answer", 0.3)  # fmt: skip

    def start_sending(self) -> None:
        token = (self.home("agency-a") / "gateway" / f"{SENDER}.token").read_text().strip()
        url = f"http://{self.net.hosts['agency-a'].address('kafka')}:{GATEWAY_PORT}/v1/messages"
        payload = ROOT / "examples" / "payloads" / "clue_transfer.json"
        self.procs["sender"] = self.net.start(
            "agency-a", [sys.executable, "-c", SENDER_SCRIPT, url, token, str(self.rate),
                         str(self.ids), str(self.stop_file), str(payload)],
            log=self.work / "sender.log",
        )  # fmt: skip

    def sent(self) -> list[str]:
        return self.ids.read_text().split() if self.ids.exists() else []

    # -- faults --------------------------------------------------------------------------------
    def holder_of(self, job: str) -> str:
        """Which hub host holds ``job``'s lease (owner names differ by home: run@host/HASH)."""
        status = self.hub_cli("hub-b", "status").stdout
        line = next((x for x in status.splitlines() if x.strip().startswith(job)), "")
        return next((h for h in ("hub-a", "hub-b") if self.home_hash(h) in line), "")

    def routed_all(self, host: str, after: int) -> bool:
        return ROUTING_ALL in self.log_text(host)[after:]

    def kill_hub_a(self) -> None:
        mark = len(self.log_text("hub-b"))
        if self.holder_of("tree-heads") != "hub-a":
            raise AssertionError("hub-a, started first, did not hold tree-heads before the kill")
        self.procs["hub-a"].send_signal(signal.SIGKILL)
        self.procs["hub-a"].wait()
        killed = time.monotonic()
        routing = jobs = None
        while routing is None or jobs is None:  # both watched at once: each timed on its own
            if time.monotonic() - killed > 90:
                raise TimeoutError("hub-b did not take routing and the jobs over within 90 s")
            if routing is None and self.routed_all("hub-b", mark):
                routing = time.monotonic() - killed
            if jobs is None and self.holder_of("tree-heads") == "hub-b":
                jobs = time.monotonic() - killed
            time.sleep(0.1)
        self.report.times["kill hub-a → hub-b routes everything"] = routing
        self.report.times["kill hub-a → hub-b holds the jobs"] = jobs
        mark_a = len(self.log_text("hub-a"))
        restarted = time.monotonic()
        self.start_hub_process("hub-a", "run")
        wait(lambda: "hub ready:" in self.log_text("hub-a")[mark_a:], 90, "hub-a to restart")
        wait(lambda: "reading hub.ingress/" in self.log_text("hub-a")[mark_a:], 60,
             "hub-a to route again")  # fmt: skip
        self.report.times["hub-a restarted → routing again"] = time.monotonic() - restarted

    def home_hash(self, host: str) -> str:
        from hub.runtime.job_lease import owner_name

        return owner_name("run", self.home(host)).split("/")[-1]

    def partition(self, net: str) -> None:
        """Cut hub-a from ``net`` for ``cut_s``, heal, and time hub-a's return to routing."""
        self.net.cut("hub-a", net)
        time.sleep(self.cut_s)
        mark = len(self.log_text("hub-a"))
        self.net.heal("hub-a", net)
        healed = time.monotonic()
        what = f"hub-a cut from {'the broker' if net == 'kafka' else 'the store'} "
        # Routing again: a batch delivered after the heal (from the partitions it holds then).
        wait(lambda: re.search(r"batch from hub\.ingress/\S+: [1-9]\d* delivered",
                               self.log_text("hub-a")[mark:]) is not None, 120,
             "hub-a to deliver again")  # fmt: skip
        self.report.times[what + f"{self.cut_s:.0f} s, healed → routing"] = (
            time.monotonic() - healed
        )

    # -- checks --------------------------------------------------------------------------------
    def inside(self, host: str, check: str) -> dict[str, Any]:
        argv = [sys.executable, str(Path(__file__)), "--inside", check, "--work", str(self.work)]
        done = self.net.run(host, argv, env=self.env(host), timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"check {check} in {host}: {done.stderr[-2000:]}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def settle_and_check(self) -> None:
        self.stop_file.touch()
        self.procs["sender"].wait(60)
        ids = self.sent()
        self.report.sent = len(ids)
        r = self.report

        def delivered() -> bool:
            return bool(self.inside("hub-b", "delivered")["all"])

        wait(delivered, 180, "every clue to be delivered", 1.0)
        facts = self.inside("hub-b", "facts")
        r.checks.update(facts)
        if facts["delivered rows"] != len(ids):
            r.failures.append("a clue is not delivered once")
        if facts["in agency-b's gateway"] != len(ids):
            r.failures.append("agency-b's gateway lacks a clue")
        if facts["in the ledger"] != len(ids) or facts["delivered in the audit log"] != len(ids):
            r.failures.append("the ledger and the audit log do not agree with the deliveries")
        verify = self.hub_cli("sink", "audit", "verify")
        r.checks["hub audit verify"] = "passes" if verify.returncode == 0 else "FAILS"
        if verify.returncode != 0:
            r.failures.append(f"hub audit verify: {verify.stdout[-500:]} {verify.stderr[-500:]}")
        # Every receipt deadline passes now (agency-b never signs for one).
        from hub.core.clock import advance_clock_file

        advance_clock_file(self.clock, 30 * 86400)
        wait(lambda: self.inside("hub-b", "breaches")["all"], 120,
             "a receipt breach for every clue", 1.0)  # fmt: skip
        breaches = self.inside("hub-b", "breaches")
        r.checks["receipt breaches fired"] = breaches["count"]
        if breaches["count"] != len(ids):
            r.failures.append("a receipt breach is missing or doubled")

    # -- the whole ------------------------------------------------------------------------------
    def run(self) -> Report:
        self.net.up()
        try:
            self.start_broker()
            self.start_store()
            self.start_hubs()
            self.start_sending()
            wait(lambda: len(self.sent()) >= 5, 60, "the first clues to be accepted", 0.2)
            self.kill_hub_a()
            self.partition("kafka")
            self.partition("sql")
            self.settle_and_check()
        except Exception as exc:  # a failure of the drill is reported, never half-cleaned
            self.report.failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.stop_all()
            self.net.down()
        return self.report

    def stop_all(self) -> None:
        self.stop_file.touch()
        for name in ("sender", "agency-a", "agency-b", "sink", "hub-a", "hub-b", "store", "broker"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGINT if name != "store" else signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.pg_root is not None:
            shutil.rmtree(self.pg_root, ignore_errors=True)


# -- checks run inside a namespace (they need the store) ----------------------------------------
def check_inside(check: str, work: Path) -> dict[str, Any]:
    from sqlalchemy import func, select

    from connectors.gateway.server import store_path
    from connectors.gateway.store import GatewayStore
    from hub.audit.store import AuditStore
    from hub.core.config import load_settings
    from hub.lifecycle.ledger import Ledger
    from hub.lifecycle.tables import sla_events
    from hub.storage.store import Store
    from hub.trust.address import Address

    ids = (work / "sent.ids").read_text().split()
    settings = load_settings()
    store = Store(settings.effective_store_url, create=False)
    if check == "delivered":
        return {"all": set(store.deliveries_by_id(ids)) >= set(ids)}
    if check == "breaches":
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(sla_events.c.message_id, func.count()).where(
                    sla_events.c.kind == "BREACH", sla_events.c.stage == "receipt",
                    sla_events.c.published_at.is_not(None), sla_events.c.message_id.in_(ids),
                ).group_by(sla_events.c.message_id)
            ).all()  # fmt: skip
        return {"all": len(rows) == len(ids), "count": sum(n for _, n in rows)}
    gateway = GatewayStore(store_path(load_settings(home=work / "agency-b"),
                                      Address.parse(RECIPIENT)))  # fmt: skip
    audit = AuditStore(settings.effective_audit_url, migrate_schema=False)
    audited = {r["message_id"] for r in audit.search(kinds=["delivered"], limit=10 * len(ids))}
    ledger = Ledger(store.engine)
    return {
        "delivered rows": len(store.deliveries_by_id(ids)),
        "in agency-b's gateway": sum(1 for i in ids if gateway.received(i) is not None),
        "in the ledger": sum(1 for i in ids if ledger.entry(i) is not None),
        "delivered in the audit log": len(audited & set(ids)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--cut", type=float, default=30.0, help="seconds each link stays down")
    ap.add_argument("--rate", type=float, default=10.0, help="clues a second")
    ap.add_argument("--lease", type=float, default=3.0, help="the jobs' lease (job_lease_s)")
    ap.add_argument("--work", type=Path, help="keep the hosts' homes and logs here")
    ap.add_argument("--inside", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        print(json.dumps(check_inside(args.inside, args.work)))
        return 0
    why = available()
    if why:
        print(f"hosts drill not run: {why}", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="hub-hosts-"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # the store's postgres user reads its folder under it
    report = Drill(work, args.cut, args.rate, args.lease).run()
    report.print()
    print(f"(homes and logs in {work})")
    return 0 if not report.failures else 1


if __name__ == "__main__":
    sys.exit(main())
