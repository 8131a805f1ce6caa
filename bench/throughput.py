"""The hub's rate beside a bare relay's, on the same broker in the same run, and its latency.

Starts its own `hub run` (embedded Tansu broker, temporary home), then:

  relay:   N records of the clue's size preloaded into a topic, moved to another by
           ``bench.relay`` (aiokafka getmany → send → flush, nothing else), timed from the first
           to the last record seen on the far side;
  hub:     N signed clue transfers produced to hub.ingress as fast as the producer goes, routed
           (verify, policy, ledger, SLA obligations, audit events, inbox), timed the same way on
           the recipient's inbox;
  latency: signed clues offered at fixed rates (default 200 and 1,000 msg/s) for a few seconds
           each, every one timed from its send to its arrival in the inbox (closed loop);
  memory:  peak RSS of the router, the audit sink and any extra worker.

Each of ``--suites`` (default: ``intl gm``) gets a hub of its own, measured against the relay on
that hub's broker; the run ends with both ratios side by side (SM2 verification costs more than
Ed25519's).  ``--workers 2`` adds a `hub worker` (the two share the ingress partitions);
``--store postgres`` puts the hub store and the audit store in fresh PostgreSQL databases;
``--profile DIR`` samples the router with py-spy during the hub run (``pip install -e
'.[bench]'``); ``--matrix`` measures every suite with one and two workers on SQLite and on
PostgreSQL and ends with one table.  The last lines are ``ratio[SUITE]=<hub rate / relay
rate>``.  Never run by the
tests: timings are machine-dependent.

    .venv/bin/python -m bench.throughput --messages 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.loads import clue_sealer, percentile
from bench.procs import (
    Profiler,
    children,
    cpu_seconds,
    peak_rss_mib,
    postgres_urls,
)
from hub.runtime.admin import ensure_topics
from hub.wire.topics import INGRESS, TopicSpec, inbox_topic
from tests.hubproc import HubProcess, start_hub, start_worker

SENDER, RECIPIENT = "MIB@350582", "PSB@350582"


class Watcher:
    """Reads a topic from the beginning and notes when each key first shows up; ``wait``
    returns once every awaited key has."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.seen: dict[bytes, float] = {}
        self.wanted: set[bytes] = set()
        self.done = asyncio.Event()

    def expect(self, keys: set[bytes]) -> None:
        self.wanted |= keys
        self.done.clear()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10
        )
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(self.topic) or set()
            while not parts:
                await asyncio.sleep(0.2)
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while True:
                polled = await consumer.getmany(timeout_ms=200, max_records=5000)
                now = time.perf_counter()
                for records in polled.values():
                    for r in records:  # every key: some are awaited only once they are known
                        if r.key not in self.seen:
                            self.seen[r.key] = now
                if self.wanted and self.wanted <= self.seen.keys():
                    self.done.set()
        finally:
            await consumer.stop()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except TimeoutError:
            missing = len(self.wanted - self.seen.keys())
            print(f"  {missing} of {len(self.wanted)} not seen after {timeout:.0f} s", flush=True)

    def rate(self, keys: list[bytes]) -> tuple[float, int]:
        times = sorted(self.seen[k] for k in keys if k in self.seen)
        if len(times) < 2 or times[-1] == times[0]:  # too few, or all seen in one poll
            return float("nan"), len(times)
        return (len(times) - 1) / (times[-1] - times[0]), len(times)


async def relay_rate(bootstrap: str, n: int, size: int, timeout: float) -> tuple[float, int]:
    run = uuid.uuid4().hex[:8]
    source, target = f"bench.relay.in.{run}", f"bench.relay.out.{run}"
    ensure_topics(bootstrap, [TopicSpec(source, INGRESS.partitions), TopicSpec(target, 3)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    keys = [f"{run}-{i:08d}".encode() for i in range(n)]
    for key in keys:
        await producer.send(source, os.urandom(size), key=key)
    await producer.flush()
    await producer.stop()
    watcher = Watcher(bootstrap, target)
    watcher.expect(set(keys))
    watching = asyncio.create_task(watcher.run())
    relay = subprocess.Popen(
        [sys.executable, "-m", "bench.relay", "--bootstrap", bootstrap,
         "--source", source, "--target", target, "--group", f"bench-relay-{run}"],
    )  # fmt: skip
    try:
        await watcher.wait(timeout)
    finally:
        relay.terminate()
        relay.wait(30)
        watching.cancel()
    return watcher.rate(keys)


async def send_all(bootstrap: str, messages: list[tuple[bytes, bytes]], rate: float = 0) -> dict:
    """Produce to hub.ingress, as fast as possible or paced at ``rate``; returns send times."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    sent: dict[bytes, float] = {}
    start = time.perf_counter()
    for i, (key, raw) in enumerate(messages):
        if rate:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        sent[key] = time.perf_counter()
        await producer.send(INGRESS.name, raw, key=key)
    await producer.flush()
    await producer.stop()
    return sent


async def measure(args: argparse.Namespace, hub: HubProcess, profiler: Profiler | None) -> dict:
    bootstrap = hub.state.bootstrap
    seal_clues = clue_sealer(hub)

    def make(n: int) -> list[tuple[bytes, bytes]]:
        return [(env.message_id.encode(), raw) for env, raw in seal_clues(n)]

    inbox = Watcher(bootstrap, inbox_topic(*RECIPIENT.split("@")))
    watching = asyncio.create_task(inbox.run())
    results: dict = {}
    try:
        print("warming up (the router group forms, inbox topics exist) …", flush=True)
        warm = make(24)
        inbox.expect({k for k, _ in warm})
        await send_all(bootstrap, warm)
        await inbox.wait(args.timeout)
        batch = make(args.messages)
        size = len(batch[0][1])
        print(f"relay: {args.messages} records of {size} bytes …", flush=True)
        results["relay"] = await relay_rate(bootstrap, args.messages, size, args.timeout)
        print(f"hub: {args.messages} signed clue transfers …", flush=True)
        inbox.expect({k for k, _ in batch})
        if profiler:
            profiler.start()
        cpu_before = {name: cpu_seconds(pid) for name, pid in args.pids.items()}
        await send_all(bootstrap, batch)
        await inbox.wait(args.timeout)
        results["cpu"] = {
            name: (cpu_seconds(pid) - cpu_before[name]) / args.messages
            for name, pid in args.pids.items()
        }
        if profiler:
            profiler.stop()
        results["hub"] = inbox.rate([k for k, _ in batch])
        results["size"] = size
        results["latency"] = {}
        for rate in args.rates:
            n = int(rate * args.latency_seconds)
            print(f"latency: {n} clues offered at {rate:g} msg/s …", flush=True)
            offered = make(n)
            inbox.expect({k for k, _ in offered})
            sent = await send_all(bootstrap, offered, rate)
            await inbox.wait(args.timeout)
            lat = [inbox.seen[k] - t for k, t in sent.items() if k in inbox.seen]
            results["latency"][rate] = (len(lat), n, lat)
    finally:
        watching.cancel()
    return results


def report(args: argparse.Namespace, suite: str, res: dict, memory: dict[str, float]) -> dict:
    relay, relayed = res["relay"]
    hub, routed = res["hub"]
    print(
        f"\n{suite} suite: {args.messages} clues of {res['size']} bytes, embedded Tansu broker, "
        f"store {args.store}, {args.workers} router worker(s), {os.cpu_count()} cores\n"
    )
    print(f"{'path':<44}{'records':>9}{'msg/s':>9}")
    print(f"{'bare relay (aiokafka getmany → send → flush)':<44}{relayed:>9}{relay:>9.0f}")
    print(f"{'hub (ingress → router → inbox)':<44}{routed:>9}{hub:>9.0f}")
    print(f"\n{'offered load':<20}{'delivered':>12}{'p50 ms':>9}{'p99 ms':>9}")
    for rate, (got, n, lat) in res["latency"].items():
        print(
            f"{f'{rate:g} msg/s':<20}{f'{got}/{n}':>12}"
            f"{percentile(lat, 0.5) * 1000:>9.0f}{percentile(lat, 0.99) * 1000:>9.0f}"
        )
    print(
        "\nCPU per routed clue: "
        + ", ".join(f"{k} {v * 1000:.2f} ms" for k, v in res["cpu"].items())
    )
    print("peak RSS: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in memory.items()))
    top = max(res["latency"], default=None)
    p99 = percentile(res["latency"][top][2], 0.99) * 1000 if top is not None else float("nan")
    return {"hub": hub, "relay": relay, "ratio": hub / relay, "p99": p99, "at": top}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--messages", type=int, default=5000, help="records per rate run")
    ap.add_argument("--workers", type=int, choices=[1, 2], default=1)
    ap.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--rates", type=float, nargs="*", default=[200.0, 1000.0])
    ap.add_argument("--latency-seconds", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--profile", type=Path, help="write py-spy profiles of the router here")
    ap.add_argument("--suites", nargs="+", choices=["intl", "gm"], default=["intl", "gm"],
                    help="measure a hub of each of these suites (default both)")  # fmt: skip
    ap.add_argument("--matrix", action="store_true",
                    help="every suite with 1 and 2 workers, on SQLite and on PostgreSQL, "
                    "then one table of them all (~2 min a cell)")  # fmt: skip
    args = ap.parse_args()
    cells = (
        [(w, st) for st in ("sqlite", "postgres") for w in (1, 2)]
        if args.matrix
        else [(args.workers, args.store)]
    )
    results: dict[tuple[str, int, str], dict] = {}
    for workers, store in cells:
        args.workers, args.store = workers, store
        for suite in args.suites:
            results[(suite, workers, store)] = measure_suite(args, suite)
    print()
    if args.matrix:
        print(f"{'suite':<6}{'workers':>8}{'store':>10}{'hub msg/s':>11}{'relay msg/s':>13}"
              f"{'ratio':>8}{'p99 ms':>8}")  # fmt: skip
        for (suite, workers, store), r in results.items():
            print(f"{suite:<6}{workers:>8}{store:>10}{r['hub']:>11.0f}{r['relay']:>13.0f}"
                  f"{r['ratio']:>8.3f}{r['p99']:>8.0f}")  # fmt: skip
        print()
    for (suite, workers, store), r in results.items():
        tag = suite if not args.matrix else f"{suite},{workers}w,{store}"
        print(f"ratio[{tag}]={r['ratio']:.3f}")


def measure_suite(args: argparse.Namespace, suite: str) -> dict:
    with ExitStack() as stack, tempfile.TemporaryDirectory() as home:
        env: dict[str, str] = {"HUB_CRYPTO_SUITE": suite}
        if args.store == "postgres":
            env.update(stack.enter_context(postgres_urls()))
        print(f"starting a hub of the {suite} suite in {home} …", flush=True)
        hub = start_hub(Path(home), extra_env=env)
        stack.callback(hub.stop)
        pids = {"router": hub.process.pid}
        for pid, cmd in children(hub.process.pid):
            if "audit" in cmd:
                pids["audit sink"] = pid
            elif "tansu" in cmd.lower():
                pids["broker"] = pid
        if args.workers == 2:
            worker = start_worker(hub)
            stack.callback(worker.terminate)
            pids["worker 2"] = worker.pid
        profiler = Profiler(args.profile, pids) if args.profile else None
        args.pids = {**pids, "benchmark": os.getpid()}
        res = asyncio.run(measure(args, hub, profiler))
        memory = {name: peak_rss_mib(pid) for name, pid in pids.items() if name != "broker"}
    summary = report(args, suite, res, memory)
    if profiler:
        profiler.summarise()
    return summary


if __name__ == "__main__":
    main()
