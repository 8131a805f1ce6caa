"""Router throughput and latency, side by side with the raw broker in the same run.

Starts its own `hub run` (embedded Tansu broker) in a temporary home, then:

  raw:  N records of the same size produced to a plain topic and consumed back;
  hub:  N signed clue transfers produced to hub.ingress, routed, read from the recipient's inbox.

Prints messages/s, p50/p99 end-to-end latency and memory (router RSS high-water mark, this
process's max RSS).  Never run by the tests: timings are machine-dependent.

    .venv/bin/python bench/router_throughput.py --messages 2000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from hub.runtime.admin import ensure_topics
from hub.trust.address import Address
from hub.wire.envelope import seal
from hub.wire.jsonpayload import from_json
from hub.wire.topics import INGRESS, TopicSpec, inbox_topic
from tests.hubproc import load_example, start_hub


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def drain(
    bootstrap: str, topic: str, n: int, sent_at: dict[bytes, float], key_of, timeout: float
) -> tuple[list[float], float]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        max_poll_records=1000,
    )
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    latencies: list[float] = []
    last = time.perf_counter()
    deadline = time.monotonic() + timeout
    while len(latencies) < n and time.monotonic() < deadline:
        for records in consumer.poll(200).values():
            now = time.perf_counter()
            for r in records:
                t = sent_at.pop(key_of(r), None)
                if t is not None:
                    latencies.append(now - t)
                    last = now
    consumer.close()
    return latencies, last


def run_raw(bootstrap: str, n: int, size: int, timeout: float) -> dict:
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [TopicSpec(topic, 3)])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    sent_at: dict[bytes, float] = {}
    start = time.perf_counter()
    for i in range(n):
        key = f"{i:08d}".encode()
        sent_at[key] = time.perf_counter()
        producer.send(topic, key=key, value=b"x" * size)
    producer.flush()
    latencies, last = drain(bootstrap, topic, n, sent_at, lambda r: r.key, timeout)
    producer.close()
    return {"n": len(latencies), "seconds": last - start, "lat": latencies}


def run_hub(bootstrap: str, hub, n: int, timeout: float) -> tuple[dict, int]:
    mib = hub.connector("MIB@350582")
    schema = mib.registry.latest("clue_transfer")
    example = load_example("clue_transfer")
    # The example's requested deadline is long past: every clue would fire four SLA events at
    # once and the benchmark would measure the SLA publisher, not the router.
    example["requested_deadline"] = None
    payload = from_json(schema.raw, example)
    recipient = Address.parse("PSB@350582")
    envelopes = [
        seal(
            mib.registry,
            family="clue_transfer",
            payload_schema=schema,
            payload=payload,
            sender=mib.address,
            recipient=recipient,
            key=mib.key,
        )
        for _ in range(n)
    ]
    size = len(envelopes[0][1])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    sent_at: dict[bytes, float] = {}
    start = time.perf_counter()
    for env, raw in envelopes:
        key = env.message_id.encode()
        sent_at[key] = time.perf_counter()
        producer.send(INGRESS.name, key=key, value=raw)
    producer.flush()
    latencies, last = drain(
        bootstrap, inbox_topic("PSB", "350582"), n, sent_at, lambda r: r.key, timeout
    )
    producer.close()
    return {"n": len(latencies), "seconds": last - start, "lat": latencies}, size


def rss_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        print(f"starting hub in {home} …", file=sys.stderr)
        hub = start_hub(Path(home))
        try:
            bootstrap = hub.state.bootstrap
            print(f"hub: {args.messages} signed clue transfers …", file=sys.stderr)
            hub_res, size = run_hub(bootstrap, hub, args.messages, args.timeout)
            print(f"raw: {args.messages} records of {size} bytes …", file=sys.stderr)
            raw_res = run_raw(bootstrap, args.messages, size, args.timeout)
            router_rss = rss_hwm_kib(hub.process.pid)
        finally:
            hub.stop()
    print(
        f"\n{args.messages} messages of {size} bytes, embedded Tansu broker, "
        f"fetch_max_wait_ms=100\n"
    )
    print(f"{'path':<34}{'delivered':>10}{'msg/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, res in (
        ("raw broker (produce → consume)", raw_res),
        ("hub (ingress → router → inbox)", hub_res),
    ):
        lat = res["lat"] or [float("nan")]
        print(
            f"{name:<34}{res['n']:>10}{res['n'] / res['seconds']:>10.0f}"
            f"{percentile(lat, 0.5) * 1000:>10.1f}{percentile(lat, 0.99) * 1000:>10.1f}"
        )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"\nmemory: router process peak RSS {router_rss / 1024:.0f} MiB; "
        f"benchmark process peak RSS {own / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
