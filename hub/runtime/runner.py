"""``hub run``: start (or reach) the broker, prepare topics and keys, route and run the jobs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from hub.core.clock import record_home_clock
from hub.core.config import Settings
from hub.core.text import masked_url
from hub.runtime.admin import TopicEpochs, ensure_topics
from hub.runtime.broker import EmbeddedBroker, free_port
from hub.runtime.startup import step
from hub.runtime.state import HubState, clear_state, hub_lock, write_state
from hub.trust.authority import (
    DirectoryAuthority,
    create_dev_directory,
    development_authority,
    wants_dev_directory,
)
from hub.trust.directory import DEV_CONNECTORS, Directory, DirectoryError, load_signing_key
from hub.trust.directory_file import load_directory
from hub.trust.operators import OPERATORS
from hub.wire.topics import TopicSpec, core_topics, hub_topics

log = logging.getLogger("hub.run")


def prepare_directory(settings: Settings) -> Directory:
    """The signed directory the hub starts with.

    A development hub signs its own (``development_authority``) and registers the demo
    connectors; any hub that holds the directory key registers the operators' connector
    ``HUB@100000`` when missing (it signs SLA events and checkpoints and receives escalations).
    A hub without the key needs that connector in the signed directory already.
    """
    if wants_dev_directory(settings):
        authority = development_authority(settings)
        made = create_dev_directory(authority, settings.keys_dir, [*DEV_CONNECTORS, str(OPERATORS)],
                                    settings.crypto_suite)  # fmt: skip
        if made:
            log.info(
                "development directory: created keys for %d connectors in %s (directory key %s)",
                made,
                settings.keys_dir,
                settings.directory_key_path,
            )
    elif settings.directory_key_path.exists():
        authority = DirectoryAuthority.from_settings(settings)
        if create_dev_directory(authority, settings.keys_dir, [str(OPERATORS)],
                                settings.crypto_suite):  # fmt: skip
            log.info("registered the hub operators' signing key for %s", OPERATORS)
    directory = load_directory(settings)
    try:
        load_signing_key(settings.keys_dir, OPERATORS, directory)
    except DirectoryError as exc:
        raise DirectoryError(
            f"{exc}.  The operators' connector must be registered: `hub keys new {OPERATORS} "
            "--request hub.request.json` here, applied with `hub directory apply` where the "
            "directory key is kept"
        ) from exc
    return directory


#: Up to this many connectors, `hub run` creates every inbox and documents topic as it starts.
#: Beyond it only the core topics: each inbox is created before its first delivery anyway
#: (``InboxTopics``), `hub topics apply` creates them all on a cluster, and the embedded broker
#: takes O(topics) to create each one (a national directory's 50,000 would take ~14 minutes,
#: bench/national.py).
TOPICS_AT_START = 2000


def start_topics(directory: Directory, settings: Settings) -> list[TopicSpec]:
    """The topics `hub run` makes sure of before it routes."""
    addresses = directory.addresses()
    if len(addresses) <= TOPICS_AT_START:
        return hub_topics(addresses, settings.docs_retention_ms)
    log.info("%d connectors: only the core topics are created at start; each connector's inbox "
             "and documents topics before their first delivery (or all at once with `hub topics "
             "apply`)", len(addresses))  # fmt: skip
    return core_topics()


def run_hub(settings: Settings) -> int:
    """Start (or reach) the broker, prepare the directory, topics and store — each a start-up
    step with a timeout (``hub.runtime.startup``) — then route until Ctrl-C or SIGTERM.

    The router's group join starts as soon as the topics exist (``hub.runtime.ingress.seat``):
    the store, the pages and the audit sink are made while the broker holds the join."""
    import asyncio

    timeout = settings.startup_timeout_s
    settings.home.mkdir(parents=True, exist_ok=True)
    record_home_clock(settings)  # the console and every command on this home follow it
    with ExitStack() as stack:
        stack.enter_context(hub_lock(settings.state_file))  # AlreadyRunning when another runs
        broker, bootstrap = None, settings.kafka_bootstrap
        if settings.embedded:
            broker = EmbeddedBroker(log_file=settings.home / "broker.log")
            stack.callback(broker.launch().stop)
            bootstrap = broker.bootstrap
        # The Kafka clients' imports (~0.2 s), while the broker starts.
        import kafka  # noqa: F401

        import hub.runtime.ingress.seat  # noqa: F401

        directory = step(
            f"the signed directory in {settings.home}", lambda: prepare_directory(settings), timeout
        )
        if broker is not None:
            broker.wait_ready(timeout_s=timeout)
        step(
            f"the hub's topics on {bootstrap}",
            lambda: ensure_topics(
                bootstrap,
                start_topics(directory, settings),
                security=settings.kafka_python_security(),
                replication=settings.topic_replication,
            ),
            timeout,
        )
        # Each embedded broker starts empty: its epoch is new every run, so what was delivered but
        # not yet received is published again (hub.storage.redelivery); on a cluster, topic ids.
        embedded_run = f"embedded:{uuid.uuid4().hex}" if settings.embedded else ""
        epochs = TopicEpochs(
            bootstrap, embedded_run=embedded_run, security=settings.kafka_python_security()
        )

        def prepare() -> tuple[Any, int]:
            """Everything but the join, in a thread while the broker holds it."""
            return _prepare(settings, stack, bootstrap, embedded_run, len(directory.connectors))

        asyncio.run(_route(settings, bootstrap, epochs, prepare))
        log.info("hub stopped")
    return 0


async def _route(
    settings: Settings, bootstrap: str, epochs: TopicEpochs, prepare: Callable[[], tuple[Any, int]]
) -> None:
    import asyncio

    from hub.runtime.ingress.seat import take_router_seat

    seat = take_router_seat(settings, bootstrap, new_broker=settings.embedded)
    try:
        services, web_port = await asyncio.to_thread(prepare)
        from hub.runtime.hub_runtime import run_hub_runtime  # imported by prepare, in its thread

        await run_hub_runtime(services, bootstrap, web_port, epochs, seat)
    finally:
        await seat.close()


def _prepare(
    settings: Settings, stack: ExitStack, bootstrap: str, embedded_run: str, connectors: int
) -> tuple[Any, int]:
    """The store, the state file and the audit sink: (services, web port)."""
    import hub.runtime.hub_runtime  # noqa: F401  (the runtime's imports, off the event loop)
    from hub.runtime.services import HubServices

    timeout = settings.startup_timeout_s
    services = step(
        f"the store at {masked_url(settings.effective_store_url)}",
        lambda: HubServices.create(settings),
        timeout,
    )
    web_port = settings.web_port or free_port(settings.web_host)
    web_url = f"http://{settings.web_host}:{web_port}"
    audit_port = settings.audit_metrics_port or free_port(settings.web_host)
    audit_metrics = f"http://{settings.web_host}:{audit_port}/metrics"
    write_state(
        settings.state_file,
        HubState(
            pid=os.getpid(),
            bootstrap=bootstrap,
            embedded=settings.embedded,
            web_url=web_url,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            audit_metrics_url=audit_metrics if settings.audit_sink else "",
            embedded_run=embedded_run,
        ),
    )
    stack.callback(clear_state, settings.state_file)
    log.info(
        "hub starting: broker %s (%s), %d connectors, store %s, metrics %s/metrics, "
        "status board %s/board",
        bootstrap,
        "embedded Tansu" if settings.embedded else "external",
        connectors,
        masked_url(settings.effective_store_url),
        web_url,
        web_url,
    )
    log.info(
        "try, in another terminal here: ./dev hub send clue_transfer --from MIB@350582 "
        "--to PSB@350582 --payload examples/payloads/clue_transfer.json"
    )
    if settings.audit_sink:
        sink = start_audit_sink(settings, bootstrap, audit_port)
        stack.callback(stop_process, sink, "audit sink")
        log.info(
            "audit sink (pid %d): %s, metrics %s",
            sink.pid,
            masked_url(settings.effective_audit_url),
            audit_metrics,
        )
    else:
        log.info("audit sink not started here (audit_sink = false): run `hub audit sink`")
    return services, web_port


def start_audit_sink(settings: Settings, bootstrap: str, metrics_port: int) -> subprocess.Popen:
    """``hub audit sink`` as a child process with exactly these settings.

    A process, not a thread: its hashing, JSON and SQL work would otherwise take the router's
    interpreter lock (the router ran ~40 % slower with the sink as a thread on 2 cores).
    """
    env = dict(os.environ)
    for f in fields(Settings):
        if f.name != "extra":
            env[f"HUB_{f.name.upper()}"] = str(getattr(settings, f.name))
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "audit", "sink", "--bootstrap", bootstrap,
         "--metrics-port", str(metrics_port), "--parent-pid", str(os.getpid())],
        env=env,
        # Out of the terminal's process group: Ctrl-C reaches the hub only, which stops the sink
        # (SIGTERM) before the embedded broker, so the sink's last batch and checkpoint land.
        start_new_session=True,
    )  # fmt: skip


def stop_process(proc: subprocess.Popen, what: str, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("%s did not stop within %.0f s; killing it", what, timeout)
            proc.kill()
            proc.wait()
