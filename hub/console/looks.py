"""Every look an officer takes is written to the audit log before the page is shown: a search
(with its filters), a hand-off opened (and one refused as out of scope), a report or 台账 taken
away.  Access to case files must be accountable (个人信息保护法 §§ 51, 55), and a look at a
hand-off shows up in that hand-off's own chain of custody, as ``console_look``.

Published to ``hub.audit`` with the hub's MAC, like every event, and acknowledged by the broker
before the page goes out: a look the log does not have was not shown.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from hub.audit import events as ev
from hub.audit.emit import AuditPublisher
from hub.audit.events import AuditEvent
from hub.audit.store import AuditStore
from hub.wire import headers
from hub.wire.topics import AUDIT


class SyncProducer(Protocol):
    def send(self, topic: str, *, key: bytes, value: bytes, headers: list[Any]) -> Any: ...


def look(
    officer: str, what: str, at: datetime, *, message_id: str | None = None,
    filters: Mapping[str, str] | None = None, outcome: str = "shown",
) -> AuditEvent:  # fmt: skip
    """One look: ``what`` is search, handoff, weekly, ledger or looks; ``outcome`` shown or
    denied.  Filters are identifiers, codes and dates, never free text."""
    facts = {"officer": officer, "what": what, "outcome": outcome}
    for name, value in (filters or {}).items():
        if value:
            facts[f"filter_{name}"] = str(value)[:64]
    return AuditEvent(
        event_id(uuid.uuid4()),
        ev.CONSOLE_LOOK,
        at,
        message_id=message_id,
        conversation_id=message_id,
        facts=facts,
    )


def event_id(unique: object) -> str:
    return ev.event_id(ev.CONSOLE_LOOK, unique)


class LookLog:
    """Writes looks to ``hub.audit`` and waits for the broker's acknowledgement."""

    def __init__(self, publisher: AuditPublisher, producer: SyncProducer, timeout_s: float = 10):
        self.publisher = publisher
        self.producer = producer
        self.timeout_s = timeout_s

    def write(self, event: AuditEvent) -> None:
        value = self.publisher.encode(event)
        key = (event.conversation_id or event.event_id).encode()
        self.producer.send(
            AUDIT.name,
            key=key,
            value=value,
            headers=[
                (headers.AUDIT_KIND, event.kind.encode()),
                (headers.AUDIT_MAC, self.publisher.mac.tag(value)),
            ],
        ).get(self.timeout_s)


WHAT = {"search": "检索", "handoff": "查阅移交", "weekly": "周报表", "ledger": "台账",
        "looks": "查阅记录", "pictures": "图表", "timestamp": "时间戳"}  # fmt: skip
OUTCOMES = {"shown": "已显示", "denied": "拒绝（超出辖区）", "downloaded": "已下载"}


def latest_looks(
    audit: AuditStore,
    *,
    officer: str = "",
    message_id: str = "",
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[dict[str, Any]], bool]:
    """One page of looks, newest first, of one officer or one hand-off if asked (the supervisors'
    page); and whether there is another page.  ``officer`` and ``message_id`` were checked
    against the identifier alphabet where they entered (hub.console.params)."""
    from sqlalchemy import select

    from hub.audit.schema import audit_log
    from hub.core.clock import beijing_time

    cond = [audit_log.c.kind == ev.CONSOLE_LOOK]
    if officer:  # facts are canonical JSON: {"officer":"qz-audit-01",...}
        cond.append(audit_log.c.facts.contains(f'"officer":"{officer}"', autoescape=True))
    if message_id:
        cond.append(audit_log.c.message_id == message_id)
    stmt = (select(audit_log).where(*cond).order_by(audit_log.c.seq.desc())
            .limit(page_size + 1).offset((page - 1) * page_size))  # fmt: skip
    with audit.engine.connect() as conn:
        found = [dict(r) for r in conn.execute(stmt).mappings()]
    rows = []
    for r in found[:page_size]:
        facts = json.loads(r.get("facts") or "{}")
        rows.append({
            "seq": r["seq"], "at": beijing_time(r["occurred_at"]), "officer": facts.get("officer"),
            "what": WHAT.get(facts.get("what", ""), facts.get("what")),
            "outcome": OUTCOMES.get(facts.get("outcome", ""), facts.get("outcome")),
            "denied": facts.get("outcome") == "denied",
            "message_id": r.get("message_id"),
            "filters": " ".join(f"{k[7:]}={v}" for k, v in facts.items()
                                if k.startswith("filter_")),
        })  # fmt: skip
    return rows, len(found) > page_size
