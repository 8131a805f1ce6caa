"""Reading the bodies of ``POST /v1/messages`` and of the answers that may carry a processing
report: JSON, or ``multipart/form-data`` whose ``message`` part is that JSON and whose other
parts are documents (gateway.uploads).  Checked as FastAPI checks a declared body, with the
same problems."""

from __future__ import annotations

from typing import Any

import rfc8785
from fastapi import Request
from pydantic import BaseModel, ValidationError

from connectors.documents import DocumentFile
from connectors.gateway.models import AnswerBody, NewMessage
from connectors.gateway.service import GatewayError
from connectors.gateway.uploads import Upload, UploadBudget, UploadError, read_upload
from hub.trust.signed import canonical
from hub.wire import jsoncheck


def either_body(model: str, parts: str, *, required: bool = True) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that takes ``model`` as JSON or as the ``message``
    part of a form whose other parts (``parts``) are documents."""
    ref = {"$ref": f"#/components/schemas/{model}"}
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/json": {"schema": ref},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["message"],
                        "properties": {
                            "message": ref,
                            "document": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "description": parts,
                            },
                        },
                    },
                    "encoding": {"message": {"contentType": "application/json"}},
                },
            },
        }
    }


SEND_BODY = either_body(
    "NewMessage",
    "one part per document, each with its filename and Content-Type, optionally "
    "Content-Digest (RFC 9530)",
)
REPORT_BODY = either_body(
    "AnswerBody",
    "at most one part: the processing report (处理报告), with its filename and Content-Type",
    required=False,
)


def checked(model: type[BaseModel], raw: bytes, *, empty: bytes) -> dict[str, Any]:
    """``raw`` as ``model`` (``empty`` when there is no body), or the problem FastAPI gives."""
    try:
        body = model.model_validate_json(raw or empty).model_dump(exclude_none=model is AnswerBody)
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


def new_message(raw: bytes) -> dict[str, Any]:
    return checked(NewMessage, raw, empty=b"null")


def answer_body(raw: bytes) -> dict[str, Any]:
    return checked(AnswerBody, raw, empty=b"{}")


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def read_form(
    request: Request, folder: Any, max_document_bytes: int, budget: UploadBudget
) -> Upload:
    """The form's parts, documents written to ``folder``; an unreadable form is a problem."""
    try:
        return await read_upload(request.headers, request.stream(), folder,
                                 max_document_bytes=max_document_bytes, budget=budget)  # fmt: skip
    except UploadError as exc:
        problems = [jsoncheck.Problem(exc.pointer, exc.detail)] if exc.pointer else []
        raise GatewayError(exc.status, exc.reason, exc.detail, problems) from exc


def with_documents(body: dict[str, Any], upload: Upload) -> list[DocumentFile]:
    """List the documents' digests in ``body`` (so the idempotency key covers them) and return
    them as files to send."""
    body["documents"] = [
        {"name": d.name, "media_type": d.media_type, "size": d.size, "sha256": d.sha256}
        for d in upload.documents
    ]
    return [DocumentFile(d.path, d.name, d.media_type) for d in upload.documents]
