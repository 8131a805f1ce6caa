"""A message's chain of custody as one gateway saw it (its own sends and what it received)."""

from __future__ import annotations

from typing import Any

from connectors.gateway.errors import GatewayError
from connectors.gateway.store import GatewayStore, Received
from hub.wire.families import FAMILIES


def custody(store: GatewayStore, message_id: str) -> dict[str, Any] | None:
    """What this gateway knows of ``message_id``: sent or received here, the answers that went
    back and forth, and the state the last one leads to; None when it knows nothing."""
    sent = [r for r in store.sent_about(message_id) if r.message_id == message_id]
    received = store.received(message_id)
    if not sent and received is None:
        return None
    steps: list[dict[str, Any]] = []
    state = "SENT" if sent else "RECEIVED_HERE"
    if sent:
        steps.append(
            {
                "step": "sent",
                "family": sent[0].family,
                "to": sent[0].recipient,
                "at": sent[0].created_at,
            }
        )
        for reply in store.answers_to(message_id):
            steps.append(_reply_step(reply, "received"))
            state = _state_after(reply.family, reply.body.get("payload") or {}) or state
    else:
        assert received is not None
        steps.append(
            {
                "step": "received",
                "family": received.family,
                "from": received.sender,
                "at": received.received_at,
            }
        )
        for req in store.sent_about(message_id):
            if req.correlation_id == message_id and req.response:
                steps.append(
                    {
                        "step": "answered",
                        "family": req.family,
                        "id": req.message_id,
                        "at": req.created_at,
                    }
                )
    out: dict[str, Any] = {
        "id": message_id,
        "direction": "sent" if sent else "received",
        "state": state,
        "steps": steps,
    }
    return out


def _reply_step(reply: Received, step: str) -> dict[str, Any]:
    return {
        "step": step,
        "family": reply.family,
        "id": reply.message_id,
        "from": reply.sender,
        "at": reply.received_at,
    }


def _state_after(family: str, payload: dict[str, Any]) -> str | None:
    fam = FAMILIES.get(family)
    if fam is None or fam.next_state is None:
        return None
    try:
        return fam.next_state(payload)
    except (KeyError, TypeError, ValueError):
        return None


def status(store: GatewayStore, message_id: str, hub_view: Any = None) -> dict[str, Any]:
    """``GET /v1/messages/{id}``: what this gateway saw, and the hub's records where it can read
    them; 404 for a message it neither sent nor received."""
    found = custody(store, message_id)
    if found is None:
        raise GatewayError(404, "not_found", "this gateway neither sent nor received it")
    seen = hub_view(message_id) if hub_view is not None else None
    if seen is not None:
        found["hub"] = seen
    return found


def looks(store: GatewayStore, message_id: str, hub_view: Any = None) -> dict[str, Any]:
    """``GET /v1/messages/{id}/looks``: the officers' looks at a hand-off this gateway sent or
    received (404 otherwise, and 503 where this gateway cannot read the hub's records)."""
    found = status(store, message_id, hub_view)
    if "hub" not in found:
        raise GatewayError(503, "hub_records_unavailable",
                           "this gateway cannot read the hub's audit log")  # fmt: skip
    return {"id": message_id, "looks": found["hub"]["looks"]}
