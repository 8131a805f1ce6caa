"""The demo's departments: a connector each, reading its inbox in the background.

What a department *does* is the script's (``demo.play``): the background reader only files what
arrives, so the week plays the same however the threads are scheduled.  The finance bureau is
the exception, as in life: its responder answers invoice checks as they come
(``responders.finance``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from connectors.client import Connector
from connectors.messages import InboxMessage
from connectors.responders.finance import FinanceResponder, Register, sample_invoices
from hub.core.config import Settings
from hub.demo.files import processing_report

log = logging.getLogger("hub.demo")


class Department(Protocol):
    """What the script asks of a department, with a connector or through its gateway."""

    address: str

    def wait_for(self, message_id: str, timeout_s: float = 60.0) -> Any: ...

    def answer(self, action: str, message_id: str, args: dict[str, Any]) -> str: ...


class Agency:
    def __init__(self, settings: Settings, address: str, bootstrap: str) -> None:
        self.address = address
        self.connector = Connector.from_settings(settings, address, bootstrap=bootstrap)
        #: The processing reports this bureau sent with its closures: (closure id, file).
        self.reports: list[tuple[str, Path]] = []
        # Answers are keyed by the original's id already; the script never answers twice.
        self.connector.handled = None
        self.inbox: dict[str, InboxMessage] = {}
        self.answers: dict[str, list[InboxMessage]] = {}  # by the original they answer
        self.on_message: Callable[[InboxMessage], object] | None = None
        self._arrived = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"demo-{address}", daemon=True)

    def start(self) -> Agency:
        self._thread.start()
        return self

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.connector.consume(self._file, auto_receipt=False, stop=self._stop)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("%s: reading the inbox failed; again in 1 s", self.address)
                self._stop.wait(1.0)

    def _file(self, msg: InboxMessage) -> None:
        if self.on_message is not None:
            self.on_message(msg)
        with self._arrived:
            self.inbox[msg.message_id] = msg
            corr = msg.envelope.correlation_id
            if corr:
                self.answers.setdefault(corr, []).append(msg)
            self._arrived.notify_all()

    def wait_for(self, message_id: str, timeout_s: float = 60.0) -> InboxMessage:
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while message_id not in self.inbox:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{message_id} did not reach {self.address}")
                self._arrived.wait(left)
            return self.inbox[message_id]

    def wait_for_answer(
        self, original_id: str, family: str, timeout_s: float = 60.0
    ) -> InboxMessage:
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                for msg in self.answers.get(original_id, ()):
                    if msg.family == family:
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {family} to {original_id} reached {self.address}")
                self._arrived.wait(left)

    def answer(self, action: str, message_id: str, args: dict[str, Any]) -> str:
        """签收, 受理, 反馈 or 办结 with the connector; returns the answer's message id."""
        original = self.wait_for(message_id)
        conn = self.connector
        if action == "receipt":
            return conn.receipt(original)
        if action == "accept":
            return conn.accept(original, case_number=args.get("case_number"))
        if action == "feedback":
            return conn.feedback(original, args["note"], percent=args.get("percent"))
        if action == "close":
            report = None
            if args.get("processing_report") and conn.documents_dir is not None:
                report = processing_report(conn.documents_dir.parent / "reports", message_id, args)
            closure = conn.close_case(
                original,
                args["result"],
                recovered_fen=args.get("recovered_fen", 0),
                penalties_fen=args.get("penalties_fen", 0),
                sanctions=args.get("sanctions") or {},
                processing_report=report,
            )
            if report is not None:
                self.reports.append((closure, report))
            return closure
        raise ValueError(f"unknown step action {action!r}")

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float = 10.0) -> None:
        self._thread.join(timeout_s)
        self.connector.close()


def finance_bureau(agency: Agency, register_url: str) -> FinanceResponder:
    """The finance bureau answers every invoice check itself, from a sample register."""
    register = Register(register_url)
    if register.find("35010124", "0001234567") is None:
        register.add(sample_invoices(200))
    responder = FinanceResponder(agency.connector, register)
    agency.on_message = responder.handle
    return responder
