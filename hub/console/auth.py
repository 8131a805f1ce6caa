"""Signing officers in: a password (argon2id) and a one-time code (TOTP, RFC 6238), or a client
certificate whose fingerprint the account names.  Repeated failures lock the account for a
while; a code is never accepted twice; a disabled account cannot sign in.  Every refusal says
the same to the browser ("name, password or code is wrong") and its true reason to the log.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidSignature

from hub.core.errors import HubError
from hub.storage.officers import ROLES, Officer, OfficerStore
from hub.trust.regions import is_region

log = logging.getLogger("hub.console")

#: argon2id with the library's defaults (RFC 9106's second recommended option).
HASHER = PasswordHasher()
#: A hash of nothing, verified when the name is unknown, so that time does not tell.
_DUMMY = HASHER.hash("no such officer")
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 12


class SignInRefused(HubError):
    """A sign-in that fails; ``reason`` is for the log, never for the browser."""

    reason = "sign_in_refused"


@dataclass(frozen=True)
class NewOfficer:
    officer: Officer
    totp_uri: str  # for the authenticator app (otpauth://…), shown once


def make_officer(
    name: str,
    password: str,
    *,
    role: str,
    scope: str,
    cert_sha256: str | None,
    now: datetime,
) -> NewOfficer:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if not is_region(scope):
        raise ValueError("scope must be a six-digit region code, e.g. 350500")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password has at least {MIN_PASSWORD} characters")
    secret = pyotp.random_base32()
    officer = Officer(
        name=name,
        password_hash=HASHER.hash(password),
        totp_secret=secret,
        cert_sha256=cert_sha256.lower().replace(":", "") if cert_sha256 else None,
        role=role,
        scope=scope,
        disabled=False,
        failed=0,
        locked_until=None,
        last_totp_step=0,
        created_at=now,
    )
    uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="medfund-hub console")
    return NewOfficer(officer, uri)


def totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step ``code`` is valid for (this one, or one either side), or None."""
    totp = pyotp.TOTP(secret)
    code = code.strip()
    for offset in (0, -1, 1):
        at = now + timedelta(seconds=offset * totp.interval)
        if pyotp.utils.strings_equal(totp.at(at), code):
            return int(totp.timecode(at))
    return None


def sign_in(
    store: OfficerStore,
    name: str,
    password: str,
    code: str,
    now: datetime,
    *,
    code_time: datetime | None = None,
) -> Officer:
    """``now`` is the hub's clock (locks); ``code_time`` the wall clock the officer's
    authenticator app keeps (default ``now``), which a hub on a test clock does not."""
    officer = store.get(name)
    if officer is None:
        _verify(_DUMMY, password)
        raise SignInRefused("no such officer")
    if officer.disabled:
        raise SignInRefused("account disabled")
    if officer.locked_until is not None and officer.locked_until > now:
        raise SignInRefused("account locked after repeated failures")
    # The officer is told one thing ("account, password or code is wrong"); the log, read by
    # the operators, names which.
    if not _verify(officer.password_hash, password):
        reason = "wrong password"
    else:
        step = totp_step(officer.totp_secret, code, code_time or now)
        if step is None:
            reason = "wrong code"
        elif step <= officer.last_totp_step or not store.signed_in(name, step):
            reason = "code already used"
        else:
            return officer
    failed = store.failed_sign_in(name, lock_after=LOCK_AFTER, lock_for=LOCK_FOR, now=now)
    raise SignInRefused(reason + ("; account now locked" if failed == 0 else ""))


def sign_in_with_certificate(store: OfficerStore, sha256: str, now: datetime) -> Officer:
    officer = store.by_certificate(sha256.lower())
    if officer is None:
        raise SignInRefused("certificate names no officer")
    if officer.disabled:
        raise SignInRefused("account disabled")
    if officer.locked_until is not None and officer.locked_until > now:
        raise SignInRefused("account locked")
    return officer


#: The header by which the TLS proxy proves it is the proxy: a secret only it and the console
#: hold (``--proxy-secret-file``), so a client that reaches the console's port itself cannot
#: pass a certificate header of its own.
PROXY_SECRET_HEADER = "X-Hub-Proxy-Secret"


@dataclass(frozen=True)
class CertificateProxy:
    """How the console trusts the TLS proxy in front of it: the header carrying the client
    certificate (URL-encoded PEM), the secret the proxy sends, and the CAs officers'
    certificates must be issued by."""

    header: str
    secret: str
    cas: tuple[Any, ...]  # cryptography x509.Certificate

    def fingerprint(self, headers: Mapping[str, str], now: datetime) -> str:
        """The SHA-256 (hex) of the certificate the proxy passed, once the request is the proxy's
        and the certificate is issued by one of the CAs and valid at ``now``; ValueError (with
        the reason, for the log) otherwise."""
        import urllib.parse

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        given = headers.get(PROXY_SECRET_HEADER, "")
        if not secrets.compare_digest(given.encode(), self.secret.encode()):
            raise ValueError("the request did not come through the certificate proxy (secret)")
        pem = urllib.parse.unquote(headers.get(self.header, "")).strip()
        if not pem:
            raise ValueError("no client certificate")
        cert = x509.load_pem_x509_certificate(pem.encode())
        if not any(_issued_by(cert, ca) for ca in self.cas):
            raise ValueError("the certificate is not issued by a CA of --client-ca")
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise ValueError("the certificate is expired or not yet valid")
        return cert.fingerprint(hashes.SHA256()).hex()


def _issued_by(cert: Any, ca: Any) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
