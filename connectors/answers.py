"""Answering a received hand-off: 签收 receipt, 受理 accept, 退回 return, 反馈 feedback, 办结 close.

Each answer goes back to the original's sender, correlated to the original's id.  Mixed into
:class:`connectors.client.Connector`, which provides ``send`` and ``address``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.dedup import HandledIds
from connectors.documents import DocumentFile
from connectors.messages import Answerable, OriginalRef, original_ref
from hub.core.errors import HubError
from hub.routing.policy import Policy
from hub.trust.address import Address
from hub.trust.keys import SigningKey
from hub.wire.envelope import now_utc

#: A processing report as Connector.send takes a document: a path, or a DocumentFile.
ReportFile = str | os.PathLike[str] | DocumentFile


def receipt_payload(
    original_digest: str | None,
    *,
    received_by: str | None = None,
    note: str | None = None,
    documents: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    # original_digest: the bytes signed for (labelled with its hash), when the caller holds the
    # message (non-repudiation);
    # documents: each one read and checked, as {n, wire_size, chunks_root} (documents_received).
    return {
        "received_at": now_utc(),
        "received_by": received_by,
        "note": note,
        "original_digest": original_digest,
        "documents": [
            {
                "n": int(d["n"]),
                "wire_size": int(d["wire_size"]),
                "chunks_root": str(d["chunks_root"]),
            }
            for d in documents
        ],
    }


def documents_received(docs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Of a message's documents (``ReceivedDocument.to_json()``), those read and checked."""
    return [d for d in docs if d.get("chunks_root")]


def acceptance_payload(
    decision: str, reason: str | None = None, case_number: str | None = None
) -> dict[str, Any]:
    return {
        "decision": decision,
        "reason": reason,
        "case_number": case_number,
        "decided_at": now_utc(),
    }


def feedback_payload(
    note: str, percent: int | None = None, processing_report: int | None = None
) -> dict[str, Any]:
    return {
        "note": note,
        "percent": percent,
        "reported_at": now_utc(),
        "processing_report": processing_report,
    }


def closure_payload(
    result: str,
    *,
    recovered_fen: int = 0,
    penalties_fen: int = 0,
    sanctions: dict[str, int] | None = None,
    note: str | None = None,
    closed_at: datetime | None = None,
    processing_report: int | None = None,
) -> dict[str, Any]:
    return {
        "result": result,
        "recovered_fen": recovered_fen,
        "penalties_fen": penalties_fen,
        "sanctions": [{"kind": k, "count": n} for k, n in (sanctions or {}).items()],
        "note": note,
        "closed_at": closed_at or now_utc(),
        "processing_report": processing_report,
    }


class ProcessingReportRequired(HubError):
    """A closure the policy says must carry a processing report (处理报告), given without one."""

    reason = "processing_report_required"
    exit_code = 2


def require_processing_report(
    policy: Policy | None, family: str, sender: Address, recipient: Address, given: bool
) -> None:
    """Refuse, before anything is sent, a closure that lacks the report the policy requires."""
    if (
        not given
        and policy is not None
        and policy.processing_report_required(family, sender, recipient)
    ):
        raise ProcessingReportRequired(
            f"closing {family or 'a hand-off'} from {sender} (a higher level) needs its "
            "processing report (处理报告): attach it as the closure's processing report"
        )


class Answering:
    address: Address
    key: SigningKey | None
    handled: HandledIds | None
    #: The hub's policy, for the processing reports it requires (None: nothing required here).
    policy: Policy | None
    #: Connector.send: signs and publishes, returns the message id.
    send: Callable[..., str]

    def reply(
        self,
        original: Answerable,
        family: str,
        payload: dict[str, Any],
        *,
        message_id: str | None = None,
        documents: Sequence[ReportFile] = (),
    ) -> str:
        ref = original_ref(original)
        return self.send(
            family, ref.sender, payload, correlation_id=ref.message_id, message_id=message_id,
            documents=documents,
        )  # fmt: skip

    def receipt(
        self, original: Answerable, *, received_by: str | None = None, note: str | None = None
    ) -> str:
        """Sign for a message, once: signing again (a handler re-run after a crash) returns the
        first receipt's id and sends nothing.

        The id is derived from the original's with this connector's private key
        (``SigningKey.derive``), so the same connector always derives the same id while no one
        else can predict it and answer first.
        """
        ref = original_ref(original)
        if self.handled is not None:
            sent = self.handled.answer_sent(ref.message_id, "receipt")
            if sent is not None:
                return sent
        mid = self.answer_id(ref.message_id, "receipt")
        docs = [d.to_json() for d in getattr(original, "documents", ())]
        payload = receipt_payload(
            getattr(original, "raw_digest", None) or None, received_by=received_by, note=note,
            documents=documents_received(docs),
        )  # fmt: skip
        mid = self.reply(ref, "receipt", payload, message_id=mid)
        if self.handled is not None:
            self.handled.remember_answer(ref.message_id, "receipt", mid)
        return mid

    def answer_id(self, original_id: str, family: str) -> str:
        """An id for this connector's ``family`` answer to ``original_id``: stable, unguessable."""
        if self.key is None:
            return str(uuid.uuid4())
        mark = self.key.derive(f"hub-answer-id\n{family}\n{original_id}\n{self.address}".encode())
        return str(uuid.UUID(bytes=mark[:16], version=4))

    def accept(self, original: Answerable, *, case_number: str | None = None) -> str:
        return self.reply(original, "acceptance", acceptance_payload("ACCEPTED", None, case_number))

    def return_(self, original: Answerable, reason: str) -> str:
        return self.reply(original, "acceptance", acceptance_payload("RETURNED", reason))

    def refuse(self, original: OriginalRef, problem: str) -> str:
        """Answer an encrypted payload that fails this connector's checks: sign for it, then
        return it (退回) with the problem (field names and rules, never values).  Ids derive
        from the original's, so a repeat after a crash sends nothing new."""
        self.receipt(original, note="refused: the payload fails the recipient's checks")
        if self.handled is not None:
            sent = self.handled.answer_sent(original.message_id, "refusal")
            if sent is not None:
                return sent
        payload = acceptance_payload(
            "RETURNED", f"the payload fails the recipient's checks: {problem}"[:1000]
        )
        mid = self.answer_id(original.message_id, "refusal")
        mid = self.reply(original, "acceptance", payload, message_id=mid)
        if self.handled is not None:
            self.handled.remember_answer(original.message_id, "refusal", mid)
        return mid

    def feedback(
        self,
        original: Answerable,
        note: str,
        *,
        percent: int | None = None,
        processing_report: ReportFile | None = None,
    ) -> str:
        """反馈; ``processing_report`` (a path or DocumentFile) travels as its document 1."""
        docs = [processing_report] if processing_report is not None else []
        payload = feedback_payload(note, percent, 1 if docs else None)
        return self.reply(original, "feedback", payload, documents=docs)

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
        processing_report: ReportFile | None = None,
    ) -> str:
        """办结 with its result (named ``close_case``: ``close`` releases the client).

        ``processing_report`` (a path or DocumentFile) travels as the closure's document 1;
        raises :class:`ProcessingReportRequired`, sending nothing, when the policy requires one
        for this hand-off and none is given."""
        ref = original_ref(original)
        family = original.family
        require_processing_report(
            self.policy, family, ref.sender, self.address, processing_report is not None
        )
        docs = [processing_report] if processing_report is not None else []
        payload = closure_payload(
            result,
            recovered_fen=recovered_fen,
            penalties_fen=penalties_fen,
            sanctions=sanctions,
            note=note,
            closed_at=closed_at,
            processing_report=1 if docs else None,
        )
        return self.reply(original, "closure", payload, documents=docs)
