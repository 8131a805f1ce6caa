"""Documents through the gateway, in process: a multipart post publishes its chunks ahead of the
envelope and the hub delivers it whole; a part that does not match its Content-Digest, a media
type the bytes deny, a document over the limit or a form without its message part is refused
with a problem and nothing published; a received document is served with its digest and ranges.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.documents import safe_name
from connectors.gateway.uploads import content_digest_of, parse_digest_field
from hub.runtime.ingress.pipeline import DELIVERED
from hub.wire.topics import INGRESS
from tests.gateway.test_gateway_api import Side, clue, problem_of
from tests.runtime.test_ingress_pipeline import Rig

PDF = b"%PDF-1.7\n" + os.urandom(1_300_000)


class Producer:
    """What the connector's KafkaProducer would publish, each send acknowledged at once."""

    def __init__(self) -> None:
        self.values: list[bytes] = []

    def send(self, topic: str, value: bytes, key: bytes | None = None, **_: Any) -> Acked:
        assert topic == INGRESS.name
        self.values.append(value)
        return Acked()


class Acked:
    def get(self, timeout: float | None = None) -> None:
        return None


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path / "hub")


@pytest.fixture
def mib(rig: Rig, tmp_path: Path) -> Side:
    side = Side(rig, "MIB@350582", tmp_path)
    side.connector._producer = Producer()  # type: ignore[assignment]
    return side


def chunks_of(side: Side) -> list[bytes]:
    return side.connector._producer.values  # type: ignore[union-attr]


def post_form(
    side: Side,
    files: list[tuple[str, bytes, str, dict[str, str]]],
    *,
    key: str = "k-docs",
    message: dict[str, Any] | None = None,
) -> httpx.Response:
    """A multipart post built by hand, so that each part may carry its own headers."""
    boundary = "hubtestboundary7MA4YWxk"
    parts = []
    if message is not None:
        parts.append(
            b'Content-Disposition: form-data; name="message"\r\n'
            b"Content-Type: application/json\r\n\r\n"
            + httpx.Request("POST", "http://x", json=message).content
        )
    for name, data, media, extra in files:
        head = (
            f'Content-Disposition: form-data; name="document"; filename="{name}"\r\n'
            f"Content-Type: {media}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        ).encode()
        parts.append(head + b"\r\n" + data)
    body = b"".join(f"--{boundary}\r\n".encode() + p + b"\r\n" for p in parts)
    body += f"--{boundary}--\r\n".encode()
    headers = {
        **side.auth,
        "Idempotency-Key": key,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    return side.http.post("/v1/messages", content=body, headers=headers)


def uploads_left(side: Side) -> list[Path]:
    folder = side.gateway.uploads_dir
    return list(folder.iterdir()) if folder.exists() else []


def test_a_clue_posted_with_evidence_is_delivered_after_its_chunks(mib: Side) -> None:
    response = post_form(mib, [("病历.pdf", PDF, "application/pdf", {})], message=clue())
    assert response.status_code == 202, response.text
    chunks = chunks_of(mib)
    assert len(chunks) == 3  # 1.3 MB in 512 KiB chunks
    for raw in chunks:
        mib.rig.handle(mib.rig.record(raw))
    assert mib.route_last().kind == DELIVERED
    assert mib.rig.delivered(response.json()["id"])
    assert uploads_left(mib) == []  # the plaintext is not kept once sent


def test_a_part_checked_by_its_content_digest_is_taken_and_a_wrong_one_refused(mib: Side) -> None:
    right = content_digest_of(hashlib.sha256(PDF).hexdigest())
    ok = post_form(mib, [("a.pdf", PDF, "application/pdf", {"Content-Digest": right})],
                   message=clue())  # fmt: skip
    assert ok.status_code == 202, ok.text
    sent = len(chunks_of(mib))
    wrong = "sha-512=:" + base64.b64encode(hashlib.sha512(b"other").digest()).decode() + ":"
    refused = post_form(mib, [("a.pdf", PDF, "application/pdf", {"Content-Digest": wrong})],
                        key="k-2", message=clue())  # fmt: skip
    assert refused.status_code == 422
    assert problem_of(refused)["reason"] == "digest_mismatch"
    assert len(chunks_of(mib)) == sent and uploads_left(mib) == []


def test_a_media_type_the_bytes_deny_is_refused_before_anything_is_sent(mib: Side) -> None:
    response = post_form(mib, [("x.pdf", b"PK\x03\x04zip", "application/pdf", {})],
                         message=clue())  # fmt: skip
    assert response.status_code == 422
    assert problem_of(response)["reason"] == "media_mismatch"
    assert mib.sent == []
    # Chunks go out before the envelope; a refused document stops at its first chunk.
    assert chunks_of(mib) == []


def test_a_document_over_the_limit_is_refused_while_it_streams(mib: Side) -> None:
    mib.gateway.max_document_bytes = 100_000
    response = post_form(mib, [("a.pdf", PDF, "application/pdf", {})], message=clue())
    assert response.status_code == 413
    assert problem_of(response)["reason"] == "document_too_large"
    assert chunks_of(mib) == [] and uploads_left(mib) == []


def test_a_form_without_its_message_part_or_with_a_bad_one_is_refused(mib: Side) -> None:
    missing = post_form(mib, [("a.pdf", PDF, "application/pdf", {})])
    assert missing.status_code == 422 and problem_of(missing)["errors"][0]["pointer"] == "/message"
    bad = post_form(mib, [("a.pdf", PDF, "application/pdf", {})], key="k-3",
                    message={"family": "clue_transfer", "to": "nobody"})  # fmt: skip
    assert bad.status_code == 422
    assert {e["pointer"] for e in problem_of(bad)["errors"]} >= {"/to", "/payload"}
    assert chunks_of(mib) == [] and uploads_left(mib) == []


def test_the_same_key_with_the_same_files_is_one_message_and_with_others_refused(
    mib: Side,
) -> None:
    first = post_form(mib, [("a.pdf", PDF, "application/pdf", {})], message=clue())
    again = post_form(mib, [("a.pdf", PDF, "application/pdf", {})], message=clue())
    assert again.status_code == 202 and again.json() == first.json()
    assert len(mib.sent) == 1
    other = post_form(mib, [("a.pdf", PDF[:-1] + b"!", "application/pdf", {})], message=clue())
    assert other.status_code == 422
    assert problem_of(other)["reason"] == "idempotency_key_reused"


def test_a_received_document_is_served_with_its_digest_and_by_range(
    mib: Side, rig: Rig, tmp_path: Path
) -> None:
    psb = Side(rig, "PSB@350582", tmp_path)
    psb.connector.documents_dir = tmp_path / "psb-documents"
    sent = post_form(mib, [("病历 2026.pdf", PDF, "application/pdf", {})], message=clue())
    assert sent.status_code == 202, sent.text
    for raw in chunks_of(mib):
        mib.rig.handle(mib.rig.record(raw))
    mib.route_last()
    psb.take_inbox_from("hub.inbox.PSB")
    message_id = sent.json()["id"]
    # What the receiver's consume does with the chunks (read end to end in tests/e2e).
    folder = psb.connector.documents_dir / message_id
    folder.mkdir(parents=True)
    (folder / safe_name(1, "病历 2026.pdf")).write_bytes(PDF)

    listed = psb.http.get("/v1/inbox", headers=psb.auth).json()[0]["documents"]
    assert listed == [{"n": 1, "name": "病历 2026.pdf", "media_type": "application/pdf",
                       "size": len(PDF), "sha256": hashlib.sha256(PDF).hexdigest()}]  # fmt: skip
    whole = psb.http.get(f"/v1/messages/{message_id}/documents/1", headers=psb.auth)
    assert whole.status_code == 200 and whole.content == PDF
    assert whole.headers["content-type"] == "application/pdf"
    digest = parse_digest_field(whole.headers["content-digest"])["sha-256"]
    assert digest == hashlib.sha256(PDF).digest()
    part = psb.http.get(f"/v1/messages/{message_id}/documents/1",
                        headers={**psb.auth, "Range": "bytes=100-199"})  # fmt: skip
    assert part.status_code == 206 and part.content == PDF[100:200]
    assert "content-digest" not in part.headers and "repr-digest" in part.headers
    beyond = psb.http.get(f"/v1/messages/{message_id}/documents/1",
                          headers={**psb.auth, "Range": f"bytes={len(PDF) + 5}-"})  # fmt: skip
    assert beyond.status_code == 416 and beyond.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert problem_of(beyond)["reason"] == "range_not_satisfiable"
    malformed = psb.http.get(f"/v1/messages/{message_id}/documents/1",
                             headers={**psb.auth, "Range": "bytes=x-y"})  # fmt: skip
    assert malformed.status_code == 400 and problem_of(malformed)["reason"] == "malformed_range"
    assert (
        psb.http.get(f"/v1/messages/{message_id}/documents/2", headers=psb.auth).status_code == 404
    )


def test_one_request_and_all_uploads_in_flight_are_bounded_on_disk(mib: Side) -> None:
    """Issue 30.10: 100 parts of 2 GiB each would be 200 GiB on the gateway's disk: a request
    past its bound, or past what the agency's gateway may hold in flight, is a 413 problem, and
    what it wrote is gone."""
    from connectors.gateway.uploads import UploadBudget

    mib.gateway.upload_budget = UploadBudget(per_request=len(PDF) + 10, in_flight=10 * len(PDF))
    two = [("a.pdf", PDF, "application/pdf", {}), ("b.pdf", PDF, "application/pdf", {})]
    refused = post_form(mib, two, message=clue())
    assert refused.status_code == 413 and problem_of(refused)["reason"] == "request_too_large"
    assert list(mib.gateway.uploads_dir.glob("*")) == []
    assert mib.gateway.upload_budget.used == 0
    mib.gateway.upload_budget.take(10 * len(PDF) - 100)  # other agencies' requests in flight
    full = post_form(mib, two[:1], message=clue(), key="k-2")
    assert full.status_code == 413 and problem_of(full)["reason"] == "uploads_full"
    mib.gateway.upload_budget.give_back(10 * len(PDF))
    assert post_form(mib, two[:1], message=clue(), key="k-3").status_code == 202
    assert mib.gateway.upload_budget.used == 0 and mib.sent


def test_parts_a_killed_gateway_left_behind_are_swept_at_start(rig: Rig, tmp_path: Path) -> None:
    folder = tmp_path / "MIB@350582.uploads"
    folder.mkdir()
    (folder / "0123.part").write_bytes(b"%PDF half")
    (folder / "outbox-abcd").write_bytes(b"copy")
    Side(rig, "MIB@350582", tmp_path)  # a gateway starting on the same folder
    assert list(folder.iterdir()) == []
