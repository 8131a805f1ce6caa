"""A bare relay: the yardstick the hub is measured against on the same broker.

Consumes one topic and produces every record, unchanged, to another: ``getmany`` → ``send``
each → ``flush`` → commit, with batching and nothing else (no decoding, no signature, no
database, no audit).  Same client library and acknowledgement level as the hub's router
(aiokafka, ``acks=all``, non-idempotent), so the difference between the two is the hub's work.

    python -m bench.relay --bootstrap 127.0.0.1:9092 --source bench.in --target bench.out
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def relay(bootstrap: str, source: str, target: str, group: str) -> None:
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=2
    )
    await consumer.start()
    await producer.start()
    try:
        while True:
            polled = await consumer.getmany(timeout_ms=1000, max_records=500)
            if not polled:
                continue
            for records in polled.values():
                for r in records:
                    await producer.send(target, r.value, key=r.key, headers=list(r.headers))
            await producer.flush()
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in polled.items()})
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--group", default="bench-relay")
    args = ap.parse_args()

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await relay(args.bootstrap, args.source, args.target, args.group)

    asyncio.run(run())


if __name__ == "__main__":
    main()
