"""Answering a received hand-off: 签收 receipt, 受理 accept, 退回 return, 反馈 feedback, 办结 close.

Each answer goes back to the original's sender, correlated to the original's id.  Mixed into
:class:`connectors.client.Connector`, which provides ``send`` and ``address``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from connectors.messages import Answerable, original_ref
from hub.trust.address import Address
from hub.wire.envelope import now_utc


class Answering:
    address: Address

    def send(
        self,
        family: str,
        recipient: Address | str,
        payload: dict[str, Any],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        schema_version: int | None = None,
        message_id: str | None = None,
    ) -> str:
        raise NotImplementedError

    def reply(
        self,
        original: Answerable,
        family: str,
        payload: dict[str, Any],
        *,
        message_id: str | None = None,
    ) -> str:
        ref = original_ref(original)
        return self.send(
            family, ref.sender, payload, correlation_id=ref.message_id, message_id=message_id
        )

    def receipt(
        self, original: Answerable, *, received_by: str | None = None, note: str | None = None
    ) -> str:
        """Sign for a message.  The id is derived from the original's, so signing twice (a
        handler re-run after a crash) sends one receipt as far as the hub is concerned."""
        ref = original_ref(original)
        mid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"hub:receipt:{ref.message_id}:{self.address}"))
        payload = {"received_at": now_utc(), "received_by": received_by, "note": note}
        return self.reply(ref, "receipt", payload, message_id=mid)

    def accept(self, original: Answerable, *, case_number: str | None = None) -> str:
        payload = {
            "decision": "ACCEPTED",
            "reason": None,
            "case_number": case_number,
            "decided_at": now_utc(),
        }
        return self.reply(original, "acceptance", payload)

    def return_(self, original: Answerable, reason: str) -> str:
        payload = {
            "decision": "RETURNED",
            "reason": reason,
            "case_number": None,
            "decided_at": now_utc(),
        }
        return self.reply(original, "acceptance", payload)

    def feedback(self, original: Answerable, note: str, *, percent: int | None = None) -> str:
        payload = {"note": note, "percent": percent, "reported_at": now_utc()}
        return self.reply(original, "feedback", payload)

    def close_case(
        self,
        original: Answerable,
        result: str,
        *,
        recovered_fen: int = 0,
        penalties_fen: int = 0,
        sanctions: dict[str, int] | None = None,
        note: str | None = None,
        closed_at: datetime | None = None,
    ) -> str:
        """办结 with its result (named ``close_case``: ``close`` releases the client)."""
        payload = {
            "result": result,
            "recovered_fen": recovered_fen,
            "penalties_fen": penalties_fen,
            "sanctions": [{"kind": k, "count": n} for k, n in (sanctions or {}).items()],
            "note": note,
            "closed_at": closed_at or now_utc(),
        }
        return self.reply(original, "closure", payload)
