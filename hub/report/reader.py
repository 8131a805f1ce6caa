"""Reading the audit log for the report: delivered clue hand-offs and their closures.

Turns audit records into :class:`HandOff` and :class:`Closure` values, noting (never failing
on) what it cannot read.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.core.clock import as_utc, parse_iso

if TYPE_CHECKING:
    pass


from hub.report.rules import (
    SANCTION_KINDS,
    in_region,
)


@dataclass(frozen=True)
class HandOff:
    """One delivered clue hand-off into the region."""

    message_id: str
    clue_id: str
    delivered_at: datetime
    seq: int
    source: str
    batch_number: int | None
    subject_kind: str
    subject_ref: str
    amount_fen: int


@dataclass(frozen=True)
class Closure:
    conversation_id: str
    occurred_at: datetime
    seq: int
    sender: str
    result: str
    recovered_fen: int
    penalties_fen: int
    sanctions: Mapping[str, int]

    def sanctioned(self) -> bool:
        return any(n > 0 for n in self.sanctions.values())


class _Reader:
    """Turns audit records into hand-offs and closures, noting what it could not read."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.handoffs: dict[str, HandOff] = {}
        self.delivered_ids: set[str] = set()
        self.closures: list[Closure] = []
        self.notes: list[str] = []

    def read(self, records: Iterable[Mapping[str, Any]]) -> None:
        for r in records:
            if r.get("kind") == "delivered":
                self._delivered(r)
            elif r.get("kind") == "closed" and r.get("family") == "closure":
                self._closed(r)

    def _delivered(self, r: Mapping[str, Any]) -> None:
        message_id = r.get("message_id") or ""
        self.delivered_ids.add(message_id)
        if r.get("family") != "clue_transfer" or not in_region(r.get("routed_to"), self.prefix):
            return
        if message_id in self.handoffs:  # a second delivery of the same message adds nothing
            return
        facts = self._facts(r)
        clue_id = facts.get("clue_id")
        if not clue_id:
            self._note(r, f"交接 {message_id} 无 clue_id，按一条独立线索计。")
            clue_id = f"message:{message_id}"
        number = self._int(facts, "batch_number", r, default=None)
        self.handoffs[message_id] = HandOff(
            message_id=message_id,
            clue_id=clue_id,
            delivered_at=_instant(r["occurred_at"]),
            seq=int(r.get("seq") or 0),
            source=facts.get("batch_source", ""),
            batch_number=number,
            subject_kind=facts.get("subject_kind", ""),
            # Without a subject_ref the clue stands for its own subject in distinct counts.
            subject_ref=facts.get("subject_ref") or f"clue:{clue_id}",
            amount_fen=self._int(facts, "amount_fen", r) or 0,
        )

    def _closed(self, r: Mapping[str, Any]) -> None:
        facts = self._facts(r)
        sanctions: Counter[str] = Counter()
        raw = facts.get("sanctions")
        try:
            parsed = json.loads(raw) if raw else {}
            items = {str(k): int(v) for k, v in parsed.items()}
        except (ValueError, TypeError, AttributeError):
            self._note(r, f"sanctions 无法读取：{raw!r}，按无处理计。")
            items = {}
        for kind, n in items.items():
            if kind not in SANCTION_KINDS:
                self._note(r, f"处理类型 {kind!r} 未知，计入“其他”。")
                kind = "OTHER"
            sanctions[kind] += n
        self.closures.append(
            Closure(
                conversation_id=r.get("conversation_id") or "",
                occurred_at=_instant(r["occurred_at"]),
                seq=int(r.get("seq") or 0),
                sender=r.get("sender") or "",
                result=facts.get("result", ""),
                recovered_fen=self._int(facts, "recovered_fen", r) or 0,
                penalties_fen=self._int(facts, "penalties_fen", r) or 0,
                sanctions=dict(sanctions),
            )
        )

    def _facts(self, r: Mapping[str, Any]) -> dict[str, str]:
        raw = r.get("facts") or {}
        if isinstance(raw, Mapping):
            return {str(k): str(v) for k, v in raw.items()}
        try:
            return {str(k): str(v) for k, v in json.loads(raw).items()}
        except (ValueError, AttributeError):
            self._note(r, "facts 无法读取，按空计。")
            return {}

    def _int(
        self, facts: Mapping[str, str], name: str, r: Mapping[str, Any], default: int | None = 0
    ) -> int | None:
        value = facts.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            self._note(r, f"{name}={value!r} 不是整数，按缺失计。")
            return default

    def _note(self, r: Mapping[str, Any], text: str) -> None:
        # Every closure is read, but another region's bad record is not this report's concern.
        if r.get("kind") == "delivered" or in_region(r.get("sender"), self.prefix):
            self.notes.append(f"审计记录 #{r.get('seq')}：{text}")


def _instant(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    return parse_iso(value)
