"""``hub run``: start (or reach) the broker, prepare topics and keys, run the router worker."""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack
from datetime import UTC, datetime

from hub.broker import EmbeddedBroker, free_port
from hub.config import Settings
from hub.directory import DEV_CONNECTORS, Directory, create_dev_directory
from hub.sla_clock import OPERATORS
from hub.state import HubState, clear_state, read_state, write_state
from hub.topics import core_topics, ensure_topics, inbox_spec

log = logging.getLogger("hub.run")


def wants_dev_directory(settings: Settings) -> bool:
    mode = settings.dev_directory.lower()
    return mode in {"1", "true", "yes", "always"} or (mode == "auto" and settings.embedded)


def run_hub(settings: Settings, *, worker_loglevel: str = "info") -> int:
    import faust

    from hub.app import create_app

    settings.home.mkdir(parents=True, exist_ok=True)
    running = read_state(settings.state_file)
    if running is not None:
        log.error(
            "a hub is already running from %s (pid %d); stop it first", settings.home, running.pid
        )
        return 1
    with ExitStack() as stack:
        if settings.embedded:
            broker = EmbeddedBroker(log_file=settings.home / "broker.log")
            stack.enter_context(broker)
            bootstrap = broker.bootstrap
        else:
            bootstrap = settings.kafka_bootstrap
        if wants_dev_directory(settings):
            made = create_dev_directory(settings.directory_path, settings.keys_dir, DEV_CONNECTORS)
            if made:
                log.info(
                    "development directory: created keys for %d connectors in %s",
                    made,
                    settings.keys_dir,
                )
        # The operators' connector signs SLA events and receives escalations; it always exists.
        if create_dev_directory(settings.directory_path, settings.keys_dir, [str(OPERATORS)]):
            log.info("created the hub operators' signing key for %s", OPERATORS)
        directory = Directory.load(settings.directory_path)
        specs = core_topics() + [inbox_spec(a.agency, a.region) for a in directory.addresses()]
        ensure_topics(
            bootstrap,
            specs,
            security=settings.kafka_python_security(),
            replication=settings.topic_replication,
        )
        web_port = settings.web_port or free_port(settings.web_host)
        web_url = f"http://{settings.web_host}:{web_port}"
        write_state(
            settings.state_file,
            HubState(
                pid=os.getpid(),
                bootstrap=bootstrap,
                embedded=settings.embedded,
                web_url=web_url,
                started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        stack.callback(clear_state, settings.state_file, os.getpid())
        log.info(
            "hub starting: broker %s (%s), %d connectors, store %s, metrics %s/metrics",
            bootstrap,
            "embedded Tansu" if settings.embedded else "external",
            len(directory.connectors),
            _safe_url(settings.effective_store_url),
            web_url,
        )
        log.info(
            "try, in another terminal here: ./dev hub send clue_transfer --from MIB@350582 "
            "--to PSB@350582 --payload examples/payloads/clue_transfer.json"
        )
        if settings.audit_sink:
            from consumers.audit_sink import AuditSink

            sink = AuditSink(settings, bootstrap).start()
            stack.callback(sink.stop)
            log.info("audit sink: %s", _safe_url(settings.effective_audit_url))
        else:
            log.info("audit sink not started here (audit_sink = false): run `hub audit sink`")
        app = create_app(settings, bootstrap, web_port)
        worker = faust.Worker(app, loglevel=worker_loglevel, quiet=True, redirect_stdouts=False)
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
