"""What the HTTP gateway does, without HTTP: send idempotently, keep the inbox, answer, report.

Every message the gateway sends goes the same way: claim the caller's ``Idempotency-Key`` for
the body's digest, check the payload against its Avro schema and its family's rules (all
problems, as JSON pointers), seal it with the connector's keys, keep the sealed bytes, publish
them, keep the answer.  A repeat of the key with the same body gets the same answer; with
another body, 422; while the first is still being sealed, 409.  Bytes kept but not confirmed
(a broker that was away, a gateway that stopped) are published again, unchanged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.answers import (
    documents_received,
    receipt_payload,
)
from connectors.client import Connector
from connectors.documents import DocumentFile, as_planned, safe_name
from connectors.gateway.answer_payloads import (
    ACTIONS,
    REPORTING,
    answer_payload,
    processing_report,
)
from connectors.gateway.errors import GatewayError
from connectors.gateway.store import GatewayStore, digest
from connectors.gateway.uploads import UploadBudget, sweep
from connectors.messages import InboxMessage
from hub.core.errors import HubError
from hub.trust.address import Address
from hub.trust.signed import canonical
from hub.wire import jsoncheck
from hub.wire.documents import MAX_DOCUMENT_BYTES
from hub.wire.envelope import Envelope
from hub.wire.families import FAMILIES, check_payload
from hub.wire.jsonpayload import from_json, to_json

log = logging.getLogger("gateway")

__all__ = ["ACTIONS", "REPORTING", "Answer", "Gateway", "GatewayError"]


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class Gateway:
    def __init__(
        self,
        connector: Connector,
        store: GatewayStore,
        *,
        uploads_dir: Path | None = None,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
        upload_budget: UploadBudget | None = None,
    ) -> None:
        self.connector = connector
        self.store = store
        #: Where documents posted as multipart parts are written until they are sent.
        self.uploads_dir = uploads_dir or store.path.parent / f"{connector.address}.uploads"
        swept = sweep(self.uploads_dir)
        if swept:
            log.warning("removed %d upload file(s) a stopped gateway left behind", swept)
        self.max_document_bytes = max_document_bytes
        #: What one request, and all requests in flight, may write to disk.
        self.upload_budget = upload_budget or UploadBudget()
        self.registry = connector.registry
        self._also: list[Callable[[InboxMessage], object]] = []

    def also_to(self, write: Callable[[InboxMessage], object]) -> None:
        """Hand every received message to ``write`` too (the agency's inbox table), before it
        is kept here, so a failure there has it delivered again."""
        self._also.append(write)

    # -- sending ----------------------------------------------------------------------------------
    def submit(
        self,
        caller: str,
        idem_key: str,
        body: dict[str, Any],
        files: Sequence[DocumentFile] = (),
    ) -> Answer:
        """``POST /v1/messages``: ``{family, to, payload, correlation_id?, causation_id?,
        encrypt?}``, and the ``files`` of its documents (the body then lists each one's
        ``{name, media_type, size, sha256}`` under ``documents``, so that a repeat of the key
        with other files is another body)."""
        family = str(body.get("family", ""))
        fam = FAMILIES.get(family)
        if fam is None or fam.hub_only:
            known = ", ".join(n for n, f in FAMILIES.items() if not f.hub_only)
            raise GatewayError(
                422,
                "unknown_family",
                f"unknown family; known: {known}",
                [jsoncheck.Problem("/family", "is not a family agencies send")],
            )
        try:
            to = Address.parse(str(body.get("to", "")))
        except ValueError as exc:
            raise GatewayError(
                422,
                "invalid_recipient",
                "to is not AGENCY@REGION",
                [jsoncheck.Problem("/to", "must be AGENCY@REGION")],
            ) from exc
        return self._send(
            caller,
            idem_key,
            body,
            family=family,
            to=to,
            payload_json=body.get("payload"),
            correlation_id=body.get("correlation_id"),
            causation_id=body.get("causation_id"),
            encrypt=body.get("encrypt"),
            files=files,
        )

    def answer(
        self,
        caller: str,
        idem_key: str | None,
        original_id: str,
        action: str,
        body: dict[str, Any],
        files: Sequence[DocumentFile] = (),
    ) -> Answer:
        """``POST /v1/messages/{id}/{action}``: answer a message this gateway received; a
        feedback or closure may carry its processing report as ``files``."""
        original = self.store.received(original_id)
        if original is None:
            raise GatewayError(404, "not_found", "no such message in this gateway's inbox")
        report = processing_report(self.connector.policy, self.connector.address, original,
                                   action, files)  # fmt: skip
        message_id = None
        if action == "receipt":
            earlier = self._earlier_receipt(original_id)
            if earlier is not None:  # one receipt per message, whoever asks and with what key
                return earlier
            family = "receipt"
            payload = receipt_payload(
                original.raw_digest, received_by=body.get("received_by"), note=body.get("note"),
                documents=documents_received(original.body.get("documents") or []),
            )  # fmt: skip
            message_id = self.connector.answer_id(original_id, "receipt")
            if idem_key is None:  # signing twice, whatever it says, is one receipt
                idem_key, body = f"receipt:{original_id}", {}
        else:
            family, payload = answer_payload(action, body, report)
        return self._send(
            caller,
            idem_key or f"unkeyed:{uuid.uuid4()}",
            {"action": action, **body},
            family=family,
            to=Address.parse(original.sender),
            payload_json=to_json(payload),
            correlation_id=original_id,
            causation_id=None,
            encrypt=False,
            message_id=message_id,
            files=files,
        )

    def _earlier_receipt(self, original_id: str) -> Answer | None:
        for req in self.store.sent_about(original_id):
            if req.family == "receipt" and req.correlation_id == original_id and req.response:
                return Answer(req.status or 202, req.response)
        handled = self.connector.handled
        sent = handled.answer_sent(original_id, "receipt") if handled is not None else None
        return Answer(202, {"id": sent, "family": "receipt"}) if sent else None

    def _send(
        self,
        caller: str,
        idem_key: str,
        body: dict[str, Any],
        *,
        family: str,
        to: Address,
        payload_json: Any,
        correlation_id: Any,
        causation_id: Any,
        encrypt: Any,
        message_id: str | None = None,
        files: Sequence[DocumentFile] = (),
    ) -> Answer:
        body_sha = digest(canonical(body).decode())
        existing = self.store.begin(caller, idem_key, body_sha)
        if existing is not None:
            if existing.body_sha256 != body_sha:
                raise GatewayError(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request body",
                )
            if existing.state == "done" and existing.response is not None:
                return Answer(existing.status or 202, existing.response)
            if existing.state == "sealed" and existing.raw is not None:
                return self._publish(
                    caller,
                    idem_key,
                    existing.raw,
                    existing.record_key,
                    existing.message_id or "",
                    family,
                )
            raise GatewayError(409, "in_flight", "a request with this Idempotency-Key is in flight")
        try:
            schema = self.registry.latest(FAMILIES[family].schema_stem)
            problems = jsoncheck.problems(schema.raw, payload_json)
            if problems:
                raise GatewayError(
                    422,
                    "invalid_payload",
                    "the payload does not fit its schema",
                    [jsoncheck.under("/payload", p) for p in problems],
                )
            payload = from_json(schema.raw, payload_json)
            env, raw = self.connector.seal_message(
                family,
                to,
                payload,
                correlation_id=correlation_id,
                causation_id=causation_id,
                message_id=message_id,
                encrypt=encrypt,
            )
            rules = check_payload(FAMILIES[family], payload, as_planned(env, len(files)))
            if rules:
                raise GatewayError(
                    422,
                    "invalid_payload",
                    "the payload breaks its family's rules",
                    [jsoncheck.rule_problem(r) for r in rules],
                )
            if files:  # checked first: nothing is published for a message that is refused
                env, raw = self._publish_documents(
                    family, to, payload, files, correlation_id, causation_id, env, encrypt
                )
        except GatewayError:
            self.store.abandon(caller, idem_key)
            raise
        except (ValueError, TypeError, HubError) as exc:
            self.store.abandon(caller, idem_key)
            raise GatewayError(422, getattr(exc, "reason", "invalid_payload"), str(exc)) from exc
        except Exception:
            self.store.abandon(caller, idem_key)
            raise
        key = env.conversation_id.encode()
        self.store.sealed(
            caller,
            idem_key,
            message_id=env.message_id,
            family=family,
            recipient=str(to),
            correlation_id=correlation_id,
            raw=raw,
            record_key=key,
        )
        return self._publish(caller, idem_key, raw, key, env.message_id, family)

    def _publish_documents(
        self,
        family: str,
        to: Address,
        payload: dict[str, Any],
        files: Sequence[DocumentFile],
        correlation_id: Any,
        causation_id: Any,
        checked: Envelope,
        encrypt: Any,
    ) -> tuple[Envelope, bytes]:
        try:
            return self.connector.publish_documents_and_seal(
                family, to, payload, files, correlation_id=correlation_id,
                causation_id=causation_id, message_id=checked.message_id, encrypt=encrypt,
            )  # fmt: skip
        except HubError:
            raise
        except Exception as exc:  # the broker refused a chunk: nothing was sealed
            log.warning("publishing the documents of %s failed (%s)", checked.message_id,
                        type(exc).__name__)  # fmt: skip
            raise GatewayError(
                503,
                "broker_unavailable",
                "the hub's broker did not take the documents; retry with the same Idempotency-Key",
            ) from exc

    def _publish(
        self,
        caller: str,
        idem_key: str,
        raw: bytes,
        key: bytes | None,
        message_id: str,
        family: str,
    ) -> Answer:
        try:
            self.connector.send_raw(raw, key=key)
        except Exception as exc:
            log.warning(
                "publishing %s failed (%s); kept to publish again", message_id, type(exc).__name__
            )
            raise GatewayError(
                503,
                "broker_unavailable",
                "the hub's broker did not take the message; it is kept and "
                "published again, or retry with the same Idempotency-Key",
            ) from exc
        answer = Answer(202, {"id": message_id, "family": family})
        self.store.done(caller, idem_key, answer.status, answer.body)
        log.info("sent %s %s for caller %s", family, message_id, caller)
        return answer

    def recover(self) -> int:
        """At start: publish again what was sealed but not confirmed; forget empty claims."""
        done = 0
        for req in self.store.unfinished():
            if req.state == "sealed" and req.raw is not None:
                try:
                    self._publish(
                        req.caller,
                        req.idem_key,
                        req.raw,
                        req.record_key,
                        req.message_id or "",
                        req.family or "",
                    )
                    done += 1
                except GatewayError:
                    break  # the broker is still away: the next start or retry does it
            else:
                self.store.abandon(req.caller, req.idem_key)
        return done

    # -- receiving --------------------------------------------------------------------------------
    def on_message(self, msg: InboxMessage) -> None:
        """The receiver's handler: keep the verified message until the caller acknowledges it."""
        for write in self._also:
            write(msg)
        body = msg.to_json()
        body["raw_digest"] = msg.raw_digest
        for d in body["documents"]:  # where it lies is the gateway's business, not the caller's
            d.pop("path", None)
        self.store.receive(
            message_id=msg.message_id,
            sender=str(msg.envelope.sender),
            content_sha256=msg.envelope.content_digest(),
            family=msg.family,
            correlation_id=msg.envelope.correlation_id,
            raw_digest=msg.raw_digest,
            body=body,
        )

    def inbox(self, wait_s: float, limit: int) -> list[dict[str, Any]]:
        """Unacknowledged messages, oldest first; waits up to ``wait_s`` for one to arrive."""
        with self.store.arrived:
            found = self.store.pending(limit)
            if not found and wait_s > 0:
                self.store.arrived.wait(timeout=wait_s)
                found = self.store.pending(limit)
        return [r.body for r in found]

    def ack(self, message_id: str) -> None:
        if not self.store.ack(message_id):
            raise GatewayError(404, "not_found", "no such message in this gateway's inbox")

    def document(self, message_id: str, n: int) -> tuple[Path, dict[str, Any]]:
        """``GET /v1/messages/{id}/documents/{n}``: the saved file of a received document and
        what its descriptor says."""
        received = self.store.received(message_id)
        found = [d for d in (received.body.get("documents") or []) if d.get("n") == n] if (
            received is not None) else []  # fmt: skip
        folder = self.connector.documents_dir
        if not found or folder is None:
            raise GatewayError(404, "not_found", "no such document of a received message")
        path = folder / message_id / safe_name(n, str(found[0]["name"]))
        if not path.is_file():
            raise GatewayError(404, "not_found", "the document's file is gone from the gateway")
        return path, found[0]
