"""`POST /v1/messages` through an agency's gateway beside the router, on the same hub and broker.

Starts its own `hub run` (embedded Tansu broker, temporary home) and `hub gateway --as
MIB@350582`, then:

  router:   ``--messages`` clues sealed by the benchmark and produced to hub.ingress as fast as
            the producer goes, timed from the first to the last seen in PSB's inbox (what
            ``bench.throughput`` calls the hub's rate);
  gateway:  the same number posted as JSON to the gateway, ``--concurrency`` requests in flight
            (each its own Idempotency-Key), which seals, signs and publishes each; timed from
            the first request to the last 202 (accepted) and to the last seen in the inbox
            (delivered).

The last line is ``gateway/router=<gateway delivered rate / router rate>``; the issue's bar is
0.5.  Never run by the tests: timings are machine-dependent.

    .venv/bin/python -m bench.gateway --messages 3000 --concurrency 8 32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.loads import clue_sealer
from bench.procs import cpu_seconds
from bench.throughput import RECIPIENT, SENDER, Watcher, send_all
from hub.wire.topics import inbox_topic
from tests.gatewayproc import start_gateway
from tests.hubproc import load_example, start_hub


def clue_body() -> dict:
    payload = load_example("clue_transfer")
    payload["requested_deadline"] = None  # long past: every clue would fire SLA events at once
    return {"family": "clue_transfer", "to": RECIPIENT, "payload": payload}


async def post_all(url: str, token: str, n: int, concurrency: int) -> tuple[list[str], float]:
    """Post ``n`` clues; returns the ids accepted and the seconds until the last 202."""
    body, run = clue_body(), uuid.uuid4().hex[:8]
    gate = asyncio.Semaphore(concurrency)
    ids: list[str] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one(i: int) -> None:
            async with gate:
                answer = await client.post(
                    "/v1/messages",
                    json=body,
                    headers={"Authorization": f"Bearer {token}",
                             "Idempotency-Key": f"{run}-{i}"},
                )  # fmt: skip
            if answer.status_code != 202:
                raise RuntimeError(f"gateway answered {answer.status_code}: {answer.text[:300]}")
            ids.append(answer.json()["id"])

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return ids, time.perf_counter() - began


async def measure(args: argparse.Namespace, home: Path) -> dict:
    hub = start_hub(home)
    gateway = start_gateway(hub, SENDER)
    try:
        bootstrap = hub.state.bootstrap
        inbox = Watcher(bootstrap, inbox_topic(*RECIPIENT.split("@")))
        watching = asyncio.create_task(inbox.run())
        print("warming up (the router group forms, the gateway's producer connects) …")
        warm, _ = await post_all(gateway.url, gateway.token, 24, 4)
        inbox.expect({i.encode() for i in warm})
        await inbox.wait(args.timeout)
        seal = clue_sealer(hub)
        print(f"router: {args.messages} clues sealed here, produced to hub.ingress …", flush=True)
        batch = [(e.message_id.encode(), raw) for e, raw in seal(args.messages)]
        inbox.expect({k for k, _ in batch})
        await send_all(bootstrap, batch)
        await inbox.wait(args.timeout)
        out: dict = {"router": inbox.rate([k for k, _ in batch])[0], "gateway": {}}
        for c in args.concurrency:
            print(f"gateway: {args.messages} posts, {c} in flight …", flush=True)
            cpu = cpu_seconds(gateway.proc.pid)
            ids, took = await post_all(gateway.url, gateway.token, args.messages, c)
            cpu = (cpu_seconds(gateway.proc.pid) - cpu) / args.messages
            inbox.expect({i.encode() for i in ids})
            await inbox.wait(args.timeout)
            delivered = inbox.rate([i.encode() for i in ids])[0]
            out["gateway"][c] = (args.messages / took, delivered, cpu)
        watching.cancel()
        return out
    finally:
        gateway.stop()
        hub.stop()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--messages", type=int, default=3000, help="clues per run (3000)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 32],
                    help="requests in flight, one run each (8 32)")  # fmt: skip
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        res = asyncio.run(measure(args, Path(tmp)))
    print(f"\n{args.messages} clues, embedded Tansu broker, SQLite, {os.cpu_count()} cores\n")
    print(f"{'path':<34}{'accepted/s':>11}{'delivered/s':>12}{'CPU/msg':>10}")
    print(f"{'router (produced to hub.ingress)':<34}{'':>11}{res['router']:>12.0f}{'':>10}")
    for c, (accepted, delivered, cpu) in res["gateway"].items():
        print(f"{f'gateway, {c} in flight':<34}{accepted:>11.0f}{delivered:>12.0f}"
              f"{cpu * 1000:>8.2f}ms")  # fmt: skip
    best = max(d for _, d, _ in res["gateway"].values())
    print(f"\ngateway/router={best / res['router']:.3f}")


if __name__ == "__main__":
    main()
