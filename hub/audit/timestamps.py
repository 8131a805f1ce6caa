"""Independent time for the audit log: an RFC 3161 token from a time-stamping authority on each
signed checkpoint, so the hub's own clock is not the only witness of when a batch of records
existed (X-Road timestamps its message log in batches the same way).

One request per checkpoint (a checkpoint covers every record since the one before: a batch).
What is stamped is the checkpoint as signed, :func:`stamped_bytes`: its signing bytes, a newline
and its signature in hex, so the token dates the signature too.  The token is the TSA's whole
``TimeStampResp`` (DER), stored beside the checkpoint and exported as ``<seq>.tsr`` with the
stamped bytes as ``<seq>.dat``:

    openssl ts -verify -data <seq>.dat -in <seq>.tsr -CAfile tsa-ca.pem

The request's message imprint is SHA-512: RFC 3161 libraries and the TSAs agencies can reach
know SHA-2, not SM3 (``rfc3161-client`` has SHA-256 and SHA-512 only).

Every token ``openssl ts -verify`` accepts is accepted here.  Real TSAs (and OpenSSL's own
``[tsa]`` defaults) send their certificate first and its CA after it, which is often not the DER
order of a SET OF that ``rfc3161-client``'s parser insists on; the set is not covered by the
signature, so it is put in DER order (:func:`in_der_set_order`) before the token is read.  The
TSA's own bytes are what is stored and exported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
from asn1crypto import cms, tsp
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from hub.audit.chain import Checkpoint
from hub.core.errors import HubError

log = logging.getLogger("hub.audit")
CONTENT_TYPE = "application/timestamp-query"


class TimestampError(HubError):
    """The TSA could not be reached or answered no token; or a token does not verify."""


def in_der_set_order(token: bytes) -> bytes:
    """``token`` with the certificates of its SignedData sorted as DER sorts a SET OF; the TSA's
    bytes unchanged when they already are (or hold no token).  Raises ValueError on bytes that
    are no TimeStampResp at all."""
    resp = tsp.TimeStampResp.load(token)
    signed = resp["time_stamp_token"]
    if signed.native is None or signed["content_type"].native != "signed_data":
        return token
    certs = signed["content"]["certificates"]
    if not certs.native or len(certs) < 2:
        return token
    ordered = sorted(certs, key=lambda c: c.dump())
    if [c.dump() for c in ordered] == [c.dump() for c in certs]:
        return token
    signed["content"]["certificates"] = cms.CertificateSet(ordered)
    return bytes(resp.dump(force=True))


def decode_token(token: bytes) -> TimeStampResponse:
    """A TSA's response as ``rfc3161-client`` reads it, whatever order its certificates came in;
    ValueError (with the parser's reason) when it is not one."""
    try:
        ordered = in_der_set_order(token)
    except Exception as exc:  # asn1crypto raises several types on malformed input
        raise ValueError(f"not a TimeStampResp: {exc}") from exc
    return decode_timestamp_response(ordered)


def stamped_bytes(cp: Checkpoint) -> bytes:
    return cp.signing_bytes() + b"\n" + cp.signature.hex().encode()


class TimestampClient:
    """Asks one TSA (``tsa_url``) for tokens over HTTP, as RFC 3161 §3.4 describes."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url, self.timeout_s = url, timeout_s

    def stamp(self, data: bytes) -> bytes:
        """The TSA's response (DER) for ``data``; raises TimestampError when there is none."""
        request = (
            TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA512)
            .nonce(nonce=True).cert_request(cert_request=True).build()
        )  # fmt: skip
        try:
            answer = httpx.post(self.url, content=request.as_bytes(), timeout=self.timeout_s,
                                headers={"Content-Type": CONTENT_TYPE})  # fmt: skip
        except httpx.HTTPError as exc:
            raise TimestampError(f"the TSA at {self.url} is unreachable: {exc}") from exc
        if answer.status_code != 200:
            raise TimestampError(f"the TSA at {self.url} answered {answer.status_code}")
        try:
            response = decode_token(answer.content)
        except ValueError as exc:  # the real reason, so an operator can tell the TSA's admin
            raise TimestampError(
                f"the TSA at {self.url} answered a reply that is no readable token: {exc}"
            ) from exc
        if response.status not in (0, 1):  # granted, grantedWithMods
            raise TimestampError(f"the TSA refused: status {response.status}")
        if response.tst_info.nonce != request.nonce:
            raise TimestampError("the TSA's token answers another request (nonce)")
        return answer.content


def token_time(token: bytes) -> datetime:
    """The time the TSA put in ``token``."""
    return decode_token(token).tst_info.gen_time.astimezone(UTC)


def verify_token(token: bytes, data: bytes, roots: Sequence[x509.Certificate]) -> datetime:
    """The TSA's time once ``token`` is a valid timestamp of ``data`` by a TSA certified under
    one of ``roots``; raises TimestampError otherwise."""
    try:
        response = decode_token(token)
    except ValueError as exc:
        raise TimestampError(f"not a time-stamp response: {exc}") from exc
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify_message(response, data)
    except VerificationError as exc:
        raise TimestampError(f"the timestamp does not verify: {exc}") from exc
    return response.tst_info.gen_time.astimezone(UTC)


def ingress_refusal(
    oldest_unstamped: datetime | None, now: datetime, period_s: float
) -> str | None:
    """Why new ingress is refused, or None: a checkpoint signed longer than ``period_s`` ago still
    has no token (X-Road's ``acceptable-timestamp-failure-period``, 4 h by default)."""
    if oldest_unstamped is None:
        return None
    waited = (now - oldest_unstamped).total_seconds()
    if waited <= period_s:
        return None
    signed = oldest_unstamped.strftime("%Y-%m-%d %H:%M:%S")

    def span(seconds: float) -> str:
        return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"

    return (
        f"no timestamp for {span(waited)} (checkpoint signed {signed}Z), over "
        f"acceptable_timestamp_failure_period_s ({span(period_s)})"
    )


def load_roots(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())
