"""The gateway's HTTP/JSON interface (FastAPI; OpenAPI 3.1 at ``/openapi.json``, docs at
``/docs``).

Internal callers authenticate with ``Authorization: Bearer <token>`` (tokens are kept hashed,
``hub gateway token new``) or, when the gateway runs with TLS and a client CA, with a client
certificate.  Errors are RFC 9457 ``application/problem+json`` with the hub's reason codes and,
for a payload, the JSON pointer of every field that is wrong.  Every call is logged with its
method, route, status, caller and duration, never with a body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import rfc8785
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException

from connectors.documents import DocumentFile
from connectors.gateway.service import ACTIONS, Answer, Gateway, GatewayError
from connectors.gateway.uploads import UploadError, content_digest_of, read_upload
from hub.trust.agencies import AGENCIES
from hub.trust.signed import canonical
from hub.wire import jsoncheck
from hub.wire.envelope import ID_PATTERN as ENVELOPE_ID
from hub.wire.families import FAMILIES

log = logging.getLogger("connectors.gateway.http")

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
    correlation_id: str | None = Field(default=None, description="the message this one answers")
    causation_id: str | None = None
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


HTTP_REASONS = {
    400: "malformed_body",
    404: "not_found",
    405: "method_not_allowed",
    416: "range_not_satisfiable",
}

#: ``POST /v1/messages`` takes either body; the form's ``message`` part is the JSON one.
SEND_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/NewMessage"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": {"$ref": "#/components/schemas/NewMessage"},
                        "document": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "one part per document, each with its filename and "
                            "Content-Type, optionally Content-Digest (RFC 9530)",
                        },
                    },
                },
                "encoding": {"message": {"contentType": "application/json"}},
            },
        },
    }
}


def new_message(raw: bytes) -> dict[str, Any]:
    """The JSON body of a send, checked as FastAPI would check a declared body."""
    try:
        body = NewMessage.model_validate_json(raw or b"null").model_dump()
        canonical(body)  # what the idempotency digest is made of
        return body
    except UnicodeEncodeError as exc:  # "\ud800" escapes: JSON, but no Unicode text
        raise GatewayError(400, "malformed_body", "the body holds a lone surrogate") from exc
    except rfc8785.CanonicalizationError as exc:
        raise GatewayError(
            422, "invalid_request", "a number outside the range JSON keeps exactly (±2^53)"
        ) from exc
    except ValidationError as exc:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            raise GatewayError(400, "malformed_body", "the body is not JSON") from exc
        errors = [
            jsoncheck.Problem("/" + "/".join(str(x) for x in e.get("loc", ())), str(e["msg"]))
            for e in exc.errors()
        ]
        raise GatewayError(
            422, "invalid_request", "the request does not fit the API", errors
        ) from exc


async def send_with_documents(
    gateway: Gateway, request: Request, who: str, idem_key: str
) -> Answer:
    """Write the document parts to the gateway's folder, send, then remove them."""
    try:
        upload = await read_upload(
            request.headers,
            request.stream(),
            gateway.uploads_dir,
            max_document_bytes=gateway.max_document_bytes,
        )
    except UploadError as exc:
        problems = [jsoncheck.Problem(exc.pointer, exc.detail)] if exc.pointer else []
        raise GatewayError(exc.status, exc.reason, exc.detail, problems) from exc
    try:
        body = new_message(upload.message)
        body["documents"] = [
            {"name": d.name, "media_type": d.media_type, "size": d.size, "sha256": d.sha256}
            for d in upload.documents
        ]
        files = [DocumentFile(d.path, d.name, d.media_type) for d in upload.documents]
        return await run_in_threadpool(gateway.submit, who, idem_key, body, files)
    finally:
        upload.remove()


def _caller(request: Request) -> str:
    who = request.app.state.authenticate(request)
    if who is None:
        raise GatewayError(401, "unauthenticated", "give Authorization: Bearer <token>")
    request.scope["hub_caller"] = who
    return str(who)


# At module level: with postponed annotations FastAPI resolves these names in this module.
Caller = Annotated[str, Depends(_caller)]
IdemKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=255)]
OptionalIdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
MessageId = Annotated[str, Path(pattern=ID_PATTERN)]
Wait = Annotated[float, Query(ge=0, le=60, description="seconds to wait for a message")]
Limit = Annotated[int, Query(ge=1, le=500)]


def create_api(
    gateway: Gateway,
    *,
    authenticate: Callable[[Request], str | None],
    hub_view: Callable[[str], Any] | None = None,
) -> FastAPI:
    address = gateway.connector.address
    app = FastAPI(
        title=f"Hub gateway for {address}",
        version="1",
        description="The local HTTP/JSON door of one agency connector to the interagency "
        "data-sharing hub: it signs, encrypts and sends; it verifies, decrypts, de-duplicates "
        "and keeps what arrives until acknowledged; it signs receipts and answers.",
        responses=PROBLEMS,
    )
    app.state.authenticate = authenticate
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        # The send route reads its body itself (JSON or multipart), so its model is added here.
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("schemas", {})["NewMessage"] = (
                NewMessage.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.middleware("http")
    async def log_calls(request: Request, call_next: Any) -> Any:
        started = time.monotonic()
        response = await call_next(request)
        route = request.scope.get("route")
        log.info(
            "%s %s -> %d caller=%s %.0f ms",
            request.method,
            getattr(route, "path", request.url.path),
            response.status_code,
            request.scope.get("hub_caller", "-"),
            (time.monotonic() - started) * 1000,
        )
        return response

    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, exc: GatewayError) -> JSONResponse:
        return problem(exc.status, exc.reason, exc.detail, exc.errors)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        # What the framework itself refuses (an unreadable body, an unknown path or method)
        # answers as a problem too, never as FastAPI's {"detail": ...}.
        reason = HTTP_REASONS.get(exc.status_code, f"http_{exc.status_code}")
        return problem(exc.status_code, reason, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            jsoncheck.Problem(
                "/" + "/".join(str(x) for x in e.get("loc", ())[1:]), str(e.get("msg", ""))
            )
            for e in exc.errors()
        ]
        return problem(422, "invalid_request", "the request does not fit the API", errors)

    @app.post(
        "/v1/messages",
        status_code=202,
        response_model=Accepted,
        tags=["messages"],
        summary="sign and send a message, with its documents when sent as multipart/form-data",
        openapi_extra=SEND_BODY,
        responses={413: PROBLEMS[413]},
    )
    async def send(request: Request, who: Caller, idempotency_key: IdemKey) -> JSONResponse:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            answer = await send_with_documents(gateway, request, who, idempotency_key)
        else:
            body = new_message(await request.body())
            answer = await run_in_threadpool(gateway.submit, who, idempotency_key, body)
        return JSONResponse(answer.body, status_code=answer.status)

    @app.get(
        "/v1/messages/{message_id}/documents/{n}",
        tags=["messages"],
        summary="a received document's plaintext (Range supported; Content-Digest: sha-256)",
        response_class=FileResponse,
        responses={
            200: {"content": {"application/octet-stream": {}}, "description": "the document"},
            206: {"content": {"application/octet-stream": {}}, "description": "the range asked"},
            416: PROBLEMS[416],
        },
    )
    def document(
        message_id: MessageId, n: Annotated[int, Path(ge=1, le=100)], who: Caller, request: Request
    ) -> FileResponse:
        path, d = gateway.document(message_id, n)
        digest = content_digest_of(str(d["sha256"]))
        headers = {"Repr-Digest": digest}
        if "range" not in request.headers:  # a part's Content-Digest would be of the part
            headers["Content-Digest"] = digest
        return FileResponse(path, media_type=str(d["media_type"]), headers=headers)

    @app.get("/v1/inbox", tags=["inbox"], summary="messages not yet acknowledged (long poll)")
    def inbox(
        who: Caller,
        wait: Wait = 0,
        limit: Limit = 100,
    ) -> list[dict[str, Any]]:
        return gateway.inbox(wait, limit)

    @app.post(
        "/v1/inbox/{message_id}/ack",
        status_code=204,
        tags=["inbox"],
        summary="mark a message handled",
    )
    def ack(message_id: MessageId, who: Caller) -> None:
        gateway.ack(message_id)

    @app.get("/v1/inbox/parked", tags=["inbox"], summary="messages whose push gave up")
    def parked(who: Caller) -> list[dict[str, Any]]:
        return [r.body for r in gateway.store.parked()]

    @app.post(
        "/v1/inbox/{message_id}/push",
        status_code=204,
        tags=["inbox"],
        summary="push a parked message again",
    )
    def repush(message_id: MessageId, who: Caller) -> None:
        if not gateway.store.unpark(message_id):
            raise GatewayError(404, "not_found", "no parked message with this id")

    for action in ACTIONS:
        _answer_route(app, gateway, action)

    @app.get(
        "/v1/messages/{message_id}",
        tags=["messages"],
        summary="a message's state and chain of custody",
    )
    def status(message_id: MessageId, who: Caller) -> dict[str, Any]:
        return gateway.status(message_id, hub_view)

    return app


def _answer_route(app: FastAPI, gateway: Gateway, action: str) -> None:
    summaries = {
        "receipt": "sign for a message (签收)",
        "accept": "accept it (受理)",
        "return": "return it (退回)",
        "feedback": "report progress (反馈)",
        "close": "close it with its result (办结)",
    }

    def answer(
        message_id: MessageId,
        who: Caller,
        body: AnswerBody | None = None,
        idempotency_key: OptionalIdemKey = None,
    ) -> JSONResponse:
        data = (body or AnswerBody()).model_dump(exclude_none=True)
        result = gateway.answer(who, idempotency_key, message_id, action, data)
        return JSONResponse(result.body, status_code=result.status)

    app.post(
        f"/v1/messages/{{message_id}}/{action}",
        status_code=202,
        response_model=Accepted,
        tags=["lifecycle"],
        summary=summaries[action],
        name=f"answer_{action}",
    )(answer)
