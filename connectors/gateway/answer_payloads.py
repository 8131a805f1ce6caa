"""What each answer a gateway caller asks for becomes: a family and its payload, and the
processing report (处理报告) a feedback or closure carries, refused where the policy says."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.answers import (
    ProcessingReportRequired,
    acceptance_payload,
    closure_payload,
    feedback_payload,
    require_processing_report,
)
from connectors.gateway.errors import GatewayError
from connectors.gateway.store import Received
from hub.routing.policy import Policy
from hub.trust.address import Address
from hub.wire import jsoncheck

ACTIONS = ("receipt", "accept", "return", "feedback", "close")
#: The answers that may carry a processing report (处理报告) as their one document.
REPORTING = ("feedback", "close")


def answer_payload(
    action: str, body: dict[str, Any], report: int | None
) -> tuple[str, dict[str, Any]]:
    """(family, payload) of an accept, return, feedback or close."""
    if action in ("accept", "return"):
        if action == "return" and not body.get("reason"):
            raise GatewayError(
                422,
                "invalid_payload",
                "a return needs its reason",
                [jsoncheck.Problem("/reason", "is required")],
            )
        return "acceptance", acceptance_payload(
            "ACCEPTED" if action == "accept" else "RETURNED",
            body.get("reason") if action == "return" else None,
            body.get("case_number"),
        )
    if action == "feedback":
        return "feedback", feedback_payload(str(body.get("note", "")), body.get("percent"), report)
    if action == "close":
        return "closure", closure_payload(
            str(body.get("result", "")),
            recovered_fen=int(body.get("recovered_fen") or 0),
            penalties_fen=int(body.get("penalties_fen") or 0),
            sanctions=body.get("sanctions") or None,
            note=body.get("note"),
            processing_report=report,
        )
    raise GatewayError(404, "not_found", f"no action {action!r}; one of {ACTIONS}")


def processing_report(
    policy: Policy | None, me: Address, original: Received, action: str, files: Sequence[Any]
) -> int | None:
    """The report's document number (1) when one is given; refuses a document on another
    answer, more than one, or a closure without the report the policy requires."""
    if files and (action not in REPORTING or len(files) > 1):
        raise GatewayError(
            422,
            "invalid_request",
            "feedback and close take one document: the report",
            [jsoncheck.Problem("/document", "at most one, on feedback or close")],
        )
    if action == "close":
        try:
            require_processing_report(
                policy, original.family, Address.parse(original.sender), me, bool(files)
            )
        except ProcessingReportRequired as exc:
            raise GatewayError(
                422,
                exc.reason,
                exc.detail,
                [jsoncheck.Problem("/document", "the processing report is required")],
            ) from exc
    return 1 if files else None
