"""The tokens of the checkpoints kept in the audit store (``audit_timestamps``, append-only), and
the stamping of checkpoints that have none: one TSA request per checkpoint, oldest first.

Every question is one query answered in the database (a join of checkpoints and tokens), and
the long answers are streamed: neither the sink's rounds nor the routers' gate read every
checkpoint or token into memory, however long the log grows."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select

from hub.audit.chain import Checkpoint
from hub.audit.schema import audit_checkpoints, audit_timestamps
from hub.audit.store import AuditStore
from hub.audit.timestamps import (
    TimestampClient,
    TimestampError,
    load_roots,
    stamped_bytes,
    token_time,
    verify_token,
)
from hub.core.clock import parse_iso

log = logging.getLogger("hub.audit")

_cp, _ts = audit_checkpoints.c, audit_timestamps.c
#: Checkpoints without a token, oldest first.
_WAITING: Select[Any] = (
    select(audit_checkpoints)
    .outerjoin(audit_timestamps, _ts.seq == _cp.seq)
    .where(_ts.seq.is_(None))
    .order_by(_cp.seq)
)


def _checkpoint(r: Any) -> Checkpoint:
    return Checkpoint(r.seq, r.head_hash, r.signed_at, r.key_id, bytes.fromhex(r.signature))


class Stamps:
    def __init__(self, store: AuditStore) -> None:
        self.store = store

    def add(self, seq: int, token: bytes, stamped_at: datetime) -> None:
        """Keep the TSA's token for the checkpoint at ``seq`` (once; a second is ignored)."""
        with self.store.engine.begin() as conn:
            known = select(_ts.seq).where(_ts.seq == seq)
            if conn.execute(known).first() is None:
                conn.execute(audit_timestamps.insert().values(seq=seq, token=token,
                                                              stamped_at=stamped_at))  # fmt: skip

    def stamped(self) -> Iterator[tuple[Checkpoint, bytes]]:
        """Each checkpoint that has a token, with it, oldest first; streamed."""
        query = (
            select(audit_checkpoints, _ts.token)
            .join(audit_timestamps, _ts.seq == _cp.seq)
            .order_by(_cp.seq)
        )
        with self.store.engine.connect() as conn:
            for r in conn.execution_options(yield_per=500).execute(query):
                yield _checkpoint(r), bytes(r.token)

    def covering(self, seq: int) -> tuple[Checkpoint, bytes] | None:
        """The first checkpoint at or after record ``seq`` that has a token, with the token: the
        earliest time an authority outside the hub vouches that the record existed by."""
        query = (
            select(audit_checkpoints, _ts.token)
            .join(audit_timestamps, _ts.seq == _cp.seq)
            .where(_cp.seq >= seq)
            .order_by(_cp.seq)
            .limit(1)
        )
        with self.store.engine.connect() as conn:
            r = conn.execute(query).first()
        return None if r is None else (_checkpoint(r), bytes(r.token))

    def unstamped(self, limit: int | None = None) -> list[Checkpoint]:
        """The checkpoints without a token yet, oldest first (at most ``limit``)."""
        query = _WAITING if limit is None else _WAITING.limit(limit)
        with self.store.engine.connect() as conn:
            return [_checkpoint(r) for r in conn.execute(query)]

    def waiting(self) -> int:
        """How many checkpoints wait for a token."""
        with self.store.engine.connect() as conn:
            count = select(func.count()).select_from(_WAITING.subquery())
            return int(conn.execute(count).scalar() or 0)

    def oldest_unstamped(self) -> datetime | None:
        """When the oldest checkpoint still without a token was signed."""
        first = self.unstamped(limit=1)
        return parse_iso(first[0].signed_at) if first else None

    def stamp_pending(self, client: TimestampClient, batch: int = 100) -> int:
        """Ask the TSA for a token on every checkpoint that has none, a batch at a time; returns
        how many were stamped.  Stops at the first failure (raised as TimestampError): the rest
        wait for the next call, and routing never waits for the TSA."""
        done = 0
        while waiting := self.unstamped(limit=batch):
            for cp in waiting:
                token = client.stamp(stamped_bytes(cp))
                self.add(cp.seq, token, token_time(token))
                done += 1
        if done:
            log.info("timestamped %d checkpoint(s) at %s", done, client.url)
        return done


def check_timestamps(store: AuditStore, ca_file: str) -> tuple[int, str | None]:
    """(tokens verified, the first problem or None) for every token kept, against the CA
    certificates in ``ca_file``; (0, None) when there is no CA file to check with.  A token
    belongs to a stored checkpoint by construction (it is kept only for one)."""
    if not ca_file:
        return 0, None
    roots = load_roots(Path(ca_file))
    n = 0
    for cp, token in Stamps(store).stamped():
        try:
            verify_token(token, stamped_bytes(cp), roots)
        except TimestampError as exc:
            return n, f"checkpoint #{cp.seq}: {exc}"
        n += 1
    return n, None


__all__ = ["Stamps", "TimestampError", "check_timestamps"]
