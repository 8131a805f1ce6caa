"""Start and stop a real ``hub run`` process (embedded broker included) for tests and benchmarks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from connectors.client import Connector, InboxMessage
from hub.core.config import Settings, load_settings
from hub.demo.processes import interrupt
from hub.runtime.state import read_state

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class HubProcess:
    home: Path
    process: subprocess.Popen
    log_path: Path
    #: HUB_* settings the hub runs with; its CLI gets them too (same policy, same clock).
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(self.extra_env)
        env["HUB_HOME"] = str(self.home)
        return env

    @property
    def settings(self) -> Settings:
        return load_settings(home=self.home)

    @property
    def state(self):
        state = read_state(self.home / "state.json")
        assert state is not None, "hub is not running"
        return state

    def cli(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        """Run the ``hub`` command line the way a user in the hub's directory would."""
        proc = subprocess.run(
            [sys.executable, "-m", "hub.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"hub {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def connector(self, address: str, *, signing: bool = True) -> Connector:
        return Connector.from_settings(self.settings, address, signing=signing)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> int:
        interrupt(self.process, timeout)
        return self.process.returncode


def start_hub(
    home: Path, *, extra_env: dict[str, str] | None = None, timeout: float = 60
) -> HubProcess:
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "hub-run.log"
    # A restarted hub appends to the same log: wait for a ready line the earlier runs did not write.
    ready_before = (
        log_path.read_text(errors="replace").count("hub ready:") if log_path.exists() else 0
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    # Tree heads only where a test asks for them: inbox listings stay what the test sent.
    env.update({"HUB_HOME": str(home), "HUB_DEV_DIRECTORY": "always",
                "HUB_TREE_HEAD_INTERVAL_S": "3600", **(extra_env or {})})  # fmt: skip
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "run"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    hub = HubProcess(home, proc, log_path, dict(extra_env or {}))
    deadline = time.monotonic() + timeout
    while hub.log().count("hub ready:") <= ready_before:
        if proc.poll() is not None:
            raise RuntimeError(f"hub run exited with {proc.returncode}:\n{hub.log()[-3000:]}")
        if time.monotonic() > deadline:
            hub.stop()
            raise TimeoutError(f"hub not ready after {timeout}s:\n{hub.log()[-3000:]}")
        time.sleep(0.2)
    return hub


def start_worker(hub: HubProcess, timeout: float = 60) -> subprocess.Popen:
    """A `hub worker` beside ``hub``, returned once the group gave it ingress partitions."""
    log_path = hub.home / "hub-worker.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker"],
            env=hub.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while "reading hub.ingress/" not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"hub worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc


def wait_for_messages(
    conn: Connector, ids: Iterable[str], timeout: float = 30
) -> dict[str, InboxMessage]:
    """Read ``conn``'s inbox until every id in ``ids`` was seen (or fail after ``timeout``)."""
    wanted = set(ids)
    found: dict[str, InboxMessage] = {}
    for msg in conn.messages(follow=True, max_wait_s=timeout):
        if msg.message_id in wanted:
            found[msg.message_id] = msg
            if len(found) == len(wanted):
                break
    missing = wanted - set(found)
    assert not missing, f"not in the inbox of {conn.address} after {timeout}s: {missing}"
    return found


def wait_until(predicate, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def raw_inbox_records(bootstrap: str, topic: str, idle_s: float = 1.5) -> Iterator:
    """Every raw record of a topic, duplicates included (connectors de-duplicate; this does not)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        last = time.monotonic()
        while time.monotonic() - last < idle_s:
            for records in consumer.poll(200).values():
                last = time.monotonic()
                yield from records
    finally:
        consumer.close()


def raw_records_of_topics(bootstrap: str, topics: list[str], timeout_s: float = 60) -> Iterator:
    """Every raw record of every partition of ``topics``, read by one consumer up to the high
    watermarks its fetches report (``connectors.inbox_reading.at_end``); fails rather than
    return early, so a test reading "every topic" really read them all."""
    from kafka import KafkaConsumer, TopicPartition

    from connectors.inbox_reading import at_end

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    try:
        parts = [
            TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t))
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        deadline = time.monotonic() + timeout_s
        while not at_end(consumer):
            if time.monotonic() > deadline:
                raise AssertionError(f"not every partition of {len(topics)} topics was read")
            for records in consumer.poll(200).values():
                yield from records
    finally:
        consumer.close()


def load_example(name: str) -> dict:
    return json.loads((ROOT / "examples" / "payloads" / f"{name}.json").read_text("utf-8"))
