"""The gateway's HTTP/JSON interface (FastAPI; OpenAPI 3.1 at ``/openapi.json``).  No ``/docs``
page: FastAPI's loads Swagger UI from a public CDN, which government networks cannot reach and
should not be asked to trust; the document opens in any OpenAPI viewer the agency has.

Internal callers authenticate with ``Authorization: Bearer <token>`` (tokens are kept hashed,
``hub gateway token new``) or, when the gateway runs with TLS and a client CA, with a client
certificate.  Errors are RFC 9457 ``application/problem+json`` with the hub's reason codes and,
for a payload, the JSON pointer of every field that is wrong.  Every call is logged with its
method, route, status, caller and duration, never with a body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException

from connectors.gateway import custody
from connectors.gateway.bodies import (
    REPORT_BODY,
    SEND_BODY,
    answer_body,
    is_form,
    new_message,
    read_form,
    with_documents,
)
from connectors.gateway.calls import CallLog
from connectors.gateway.models import ID_PATTERN as ID_PATTERN
from connectors.gateway.models import (
    PROBLEMS,
    Accepted,
    AnswerBody,
    NewMessage,
    problem,
)
from connectors.gateway.service import ACTIONS, REPORTING, Gateway, GatewayError
from connectors.gateway.uploads import content_digest_of
from hub.wire import jsoncheck

HTTP_REASONS = {
    400: "malformed_body",
    404: "not_found",
    405: "method_not_allowed",
    416: "range_not_satisfiable",
}


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
        docs_url=None,
        redoc_url=None,
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

    app.add_middleware(CallLog)  # every call logged; Range refusals as problems

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
        if not is_form(request):
            body = new_message(await request.body())
            answer = await run_in_threadpool(gateway.submit, who, idempotency_key, body)
            return JSONResponse(answer.body, status_code=answer.status)
        upload = await read_form(request, gateway.uploads_dir, gateway.max_document_bytes,
                                 gateway.upload_budget)  # fmt: skip
        try:  # the parts on disk go once sent (or refused)
            body = new_message(upload.message)
            files = with_documents(body, upload)
            answer = await run_in_threadpool(gateway.submit, who, idempotency_key, body, files)
        finally:
            upload.remove()
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
        return custody.status(gateway.store, message_id, hub_view)

    @app.get(
        "/v1/messages/{message_id}/looks",
        tags=["messages"],
        summary="when compliance officers looked at this hand-off (console_look records)",
    )
    def looks(message_id: MessageId, who: Caller) -> dict[str, Any]:
        return custody.looks(gateway.store, message_id, hub_view)

    return app


def _answer_route(app: FastAPI, gateway: Gateway, action: str) -> None:
    summaries = {
        "receipt": "sign for a message (签收)",
        "accept": "accept it (受理)",
        "return": "return it (退回)",
        "feedback": "report progress (反馈), with a processing report when sent as a form",
        "close": "close it with its result (办结), with its processing report as a form",
    }
    extra: dict[str, Any] = (
        {"openapi_extra": REPORT_BODY, "responses": {413: PROBLEMS[413]}}
        if action in REPORTING
        else {}
    )
    route = app.post(
        f"/v1/messages/{{message_id}}/{action}",
        status_code=202,
        response_model=Accepted,
        tags=["lifecycle"],
        summary=summaries[action],
        name=f"answer_{action}",
        **extra,
    )

    if action not in REPORTING:

        def answer(
            message_id: MessageId,
            who: Caller,
            body: AnswerBody | None = None,
            idempotency_key: OptionalIdemKey = None,
        ) -> JSONResponse:
            data = (body or AnswerBody()).model_dump(exclude_none=True)
            result = gateway.answer(who, idempotency_key, message_id, action, data)
            return JSONResponse(result.body, status_code=result.status)

        route(answer)
        return

    async def answer_with_report(
        message_id: MessageId,
        who: Caller,
        request: Request,
        idempotency_key: OptionalIdemKey = None,
    ) -> JSONResponse:
        if not is_form(request):
            data = answer_body(await request.body())
            result = await run_in_threadpool(
                gateway.answer, who, idempotency_key, message_id, action, data
            )
            return JSONResponse(result.body, status_code=result.status)
        upload = await read_form(request, gateway.uploads_dir, gateway.max_document_bytes,
                                 gateway.upload_budget)  # fmt: skip
        try:
            data = answer_body(upload.message)
            files = with_documents(data, upload)
            result = await run_in_threadpool(
                gateway.answer, who, idempotency_key, message_id, action, data, files
            )
        finally:
            upload.remove()
        return JSONResponse(result.body, status_code=result.status)

    route(answer_with_report)
