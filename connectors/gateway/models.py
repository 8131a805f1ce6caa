"""What the gateway's HTTP interface takes and answers: its Pydantic models and RFC 9457
problems, shared by the routes (gateway.api) and the body readers (gateway.bodies)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hub.trust.agencies import AGENCIES
from hub.wire import jsoncheck
from hub.wire.envelope import ID_PATTERN as ENVELOPE_ID
from hub.wire.families import FAMILIES

PROBLEM = "application/problem+json"
ID_PATTERN = f"^{ENVELOPE_ID.pattern}$"
#: A connector's address as the directory writes it: an agency code, ``@``, a GB/T 2260 region.
ADDRESS_PATTERN = f"^({'|'.join(sorted(set(AGENCIES) - {'HUB'}))})@[0-9]{{6}}$"
#: What an agency may send (the hub's own families, SLA events and tree heads, it may not).
SENDABLE = tuple(name for name, family in FAMILIES.items() if not family.hub_only)
Family = Literal[SENDABLE]  # type: ignore[valid-type]


class NewMessage(BaseModel):
    family: Family = Field(description="a message family (`hub families`), e.g. clue_transfer")
    to: str = Field(
        pattern=ADDRESS_PATTERN,
        description="the recipient connector, AGENCY@REGION",
        examples=["PSB@350582"],
    )
    payload: dict[str, Any] = Field(description="the payload as JSON, per the family's schema")
    # Ids off the alphabet are a 422 here, where they enter, for JSON and multipart bodies
    # alike, rather than an invalid_id dead letter after a 202.
    correlation_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="the message this one answers"
    )
    causation_id: str | None = Field(default=None, pattern=ID_PATTERN)
    encrypt: bool | None = Field(
        default=None, description="end-to-end encryption (default: when the family requires it)"
    )


class Accepted(BaseModel):
    id: str = Field(description="the message id")
    family: str


class AnswerBody(BaseModel):
    """What each action takes: receipt (received_by, note), accept (case_number), return
    (reason), feedback (note, percent), close (result, recovered_fen, penalties_fen, sanctions,
    note)."""

    received_by: str | None = None
    note: str | None = None
    case_number: str | None = None
    reason: str | None = None
    percent: int | None = Field(default=None, ge=0, le=100)
    result: str | None = Field(default=None, examples=["VERIFIED_TRUE"])
    recovered_fen: int | None = Field(default=None, ge=0)
    penalties_fen: int | None = Field(default=None, ge=0)
    sanctions: dict[str, int] | None = Field(default=None, examples=[{"FINED": 1}])


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    reason: str
    errors: list[dict[str, str]] = []


def problem(
    status: int, reason: str, detail: str, errors: list[jsoncheck.Problem] | None = None
) -> JSONResponse:
    body = {
        "type": f"urn:medfund-hub:problem:{reason}",
        "title": reason.replace("_", " "),
        "status": status,
        "detail": detail,
        "reason": reason,
        "errors": [{"pointer": p.pointer, "detail": p.detail} for p in errors or []],
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {PROBLEM: {}}, "description": text}
    for code, text in (
        (400, "the body cannot be read: not JSON, or not the declared content type"),
        (401, "no valid token or client certificate"),
        (404, "no such message here"),
        (409, "a request with this Idempotency-Key is still in flight"),
        (413, "a document over max_document_bytes, or a message part over 1 MiB"),
        (416, "the Range asked lies outside the document"),
        (422, "the request or its payload is invalid, or the key was used with another body"),
        (503, "the hub's broker is away; retry with the same Idempotency-Key"),
    )
}
