"""Compliance officers' accounts and console sessions, in the hub's store (they survive restarts).

- ``officers``: one row per account: its argon2id password hash, its TOTP secret, optionally the
  SHA-256 fingerprint of a client certificate it may sign in with instead, its role
  (``officer`` or ``supervisor``) and scope (a region: the officer sees hand-offs whose sender
  or recipient lies in it or under it), whether it is disabled, and its failed sign-ins and lock.
- ``console_sessions``: the SHA-256 of each session token (the token itself is only in the
  officer's cookie), with its CSRF token and expiry.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)

from hub.core.clock import as_utc
from hub.storage.engine import metadata
from hub.trust.suites import identifier

officers = Table(
    "officers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("totp_secret", String(64), nullable=False),
    Column("cert_sha256", String(64), unique=True),
    Column("role", String(16), nullable=False),
    Column("scope", String(6), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True)),
    Column("last_totp_step", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
sessions = Table(
    "console_sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("officer", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

ROLES = ("officer", "supervisor")


@dataclass(frozen=True)
class Officer:
    name: str
    password_hash: str
    totp_secret: str
    cert_sha256: str | None
    role: str
    scope: str
    disabled: bool
    failed: int
    locked_until: datetime | None
    last_totp_step: int
    created_at: datetime


@dataclass(frozen=True)
class Session:
    officer: str
    csrf: str
    expires_at: datetime


def _sha(token: str) -> str:
    return identifier(token.encode())


class OfficerStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- accounts ------------------------------------------------------------------------------
    def add(self, officer: Officer) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(officers).values(**vars(officer)))

    def get(self, name: str) -> Officer | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(officers).where(officers.c.name == name)).mappings().first()
        return None if row is None else _officer(row)

    def by_certificate(self, sha256: str) -> Officer | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(officers).where(officers.c.cert_sha256 == sha256.lower()))
                .mappings()
                .first()
            )
        return None if row is None else _officer(row)

    def all(self) -> list[Officer]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(officers).order_by(officers.c.name)).mappings().all()
        return [_officer(r) for r in rows]

    def set_disabled(self, name: str, disabled: bool) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(officers).where(officers.c.name == name).values(disabled=disabled)
            ).rowcount
            if disabled:
                conn.execute(delete(sessions).where(sessions.c.officer == name))
        return bool(done)

    def failed_sign_in(
        self, name: str, *, lock_after: int, lock_for: timedelta, now: datetime
    ) -> int:
        """Count a failure; lock the account for ``lock_for`` at ``lock_after`` in a row.
        Returns the failures counted, 0 when this one locked the account.  Each step is one
        conditional UPDATE, so two console processes counting at once lose no failure."""
        mine = officers.c.name == name
        with self.engine.begin() as conn:
            if not conn.execute(update(officers).where(mine).values(failed=officers.c.failed + 1)
                                ).rowcount:  # fmt: skip
                return 0
            locked = conn.execute(
                update(officers).where(mine, officers.c.failed >= lock_after)
                .values(failed=0, locked_until=as_utc(now + lock_for))
            ).rowcount  # fmt: skip
            if locked:
                return 0
            return int(conn.execute(select(officers.c.failed).where(mine)).scalar_one())

    def signed_in(self, name: str, totp_step: int) -> bool:
        """A good sign-in: forget the failures and keep the TOTP step used, so it is never
        accepted again.  False when the step was taken already (by a sign-in racing this one
        in another console process): the condition is in the UPDATE itself."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(officers)
                .where(officers.c.name == name, officers.c.last_totp_step < totp_step)
                .values(failed=0, locked_until=None, last_totp_step=totp_step)
            ).rowcount)  # fmt: skip

    # -- sessions ------------------------------------------------------------------------------
    def new_session(self, name: str, *, now: datetime, lifetime: timedelta) -> tuple[str, Session]:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = as_utc(now + lifetime)
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < as_utc(now)))
            conn.execute(
                insert(sessions).values(
                    token_sha256=_sha(token),
                    officer=name,
                    csrf=csrf,
                    created_at=as_utc(now),
                    expires_at=expires,
                )
            )
        return token, Session(name, csrf, expires)

    def session(self, token: str, *, now: datetime) -> Session | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(sessions).where(sessions.c.token_sha256 == _sha(token)))
                .mappings()
                .first()
            )
        if row is None or as_utc(row["expires_at"]) <= as_utc(now):
            return None
        return Session(row["officer"], row["csrf"], as_utc(row["expires_at"]))

    def end_session(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_sha256 == _sha(token)))


def _officer(row: object) -> Officer:
    d = dict(row)  # type: ignore[call-overload]
    d["locked_until"] = as_utc(d["locked_until"]) if d["locked_until"] else None
    d["created_at"] = as_utc(d["created_at"])
    return Officer(**d)
