"""A background thread that runs a loop until told to stop, starting it again after a failure."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


def start_restarting(
    name: str, body: Callable[[], None], stop: threading.Event, log: logging.Logger,
    *, retry_s: float,
) -> threading.Thread:  # fmt: skip
    """Run ``body`` in a daemon thread until ``stop`` is set; when it raises (a broker or
    database away), log it and run it again after ``retry_s``: whatever it had not committed is
    read again, so a restart loses nothing."""

    def loop() -> None:
        while not stop.is_set():
            try:
                body()
            except Exception:
                log.exception("%s failed; restarting in %g s", name, retry_s)
                stop.wait(retry_s)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
