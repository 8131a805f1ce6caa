"""The tokens of the checkpoints kept in the audit store (``audit_timestamps``, append-only), and
the stamping of checkpoints that have none: one TSA request per checkpoint, oldest first."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from hub.audit.chain import Checkpoint
from hub.audit.schema import audit_timestamps
from hub.audit.store import AuditStore
from hub.audit.timestamps import TimestampClient, TimestampError, stamped_bytes, token_time
from hub.core.clock import parse_iso

log = logging.getLogger("hub.audit")


class Stamps:
    def __init__(self, store: AuditStore) -> None:
        self.store = store

    def add(self, seq: int, token: bytes, stamped_at: datetime) -> None:
        """Keep the TSA's token for the checkpoint at ``seq`` (once; a second is ignored)."""
        with self.store.engine.begin() as conn:
            known = select(audit_timestamps.c.seq).where(audit_timestamps.c.seq == seq)
            if conn.execute(known).first() is None:
                conn.execute(audit_timestamps.insert().values(seq=seq, token=token,
                                                              stamped_at=stamped_at))  # fmt: skip

    def tokens(self) -> dict[int, bytes]:
        """The tokens kept, by checkpoint seq."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(audit_timestamps.c.seq, audit_timestamps.c.token)).all()
        return {int(r.seq): bytes(r.token) for r in rows}

    def unstamped(self) -> list[Checkpoint]:
        """The checkpoints without a token yet, oldest first."""
        have = set(self.tokens())
        return [cp for cp in self.store.checkpoints() if cp.seq not in have]

    def oldest_unstamped(self) -> datetime | None:
        """When the oldest checkpoint still without a token was signed."""
        waiting = self.unstamped()
        return parse_iso(waiting[0].signed_at) if waiting else None

    def stamp_pending(self, client: TimestampClient) -> int:
        """Ask the TSA for a token on every checkpoint that has none; returns how many were
        stamped.  Stops at the first failure (raised as TimestampError): the rest wait for the
        next call, and routing never waits for the TSA."""
        done = 0
        for cp in self.unstamped():
            token = client.stamp(stamped_bytes(cp))
            self.add(cp.seq, token, token_time(token))
            done += 1
        if done:
            log.info("timestamped %d checkpoint(s) at %s", done, client.url)
        return done


__all__ = ["Stamps", "TimestampError", "check_timestamps"]


def check_timestamps(store: AuditStore, ca_file: str) -> tuple[int, str | None]:
    """(tokens verified, the first problem or None) for every token kept, against the CA
    certificates in ``ca_file``; (0, None) when there are no tokens or no CA file to check."""
    from pathlib import Path

    from hub.audit.timestamps import load_roots, verify_token

    tokens = Stamps(store).tokens()
    if not tokens or not ca_file:
        return 0, None
    roots = load_roots(Path(ca_file))
    by_seq = {cp.seq: cp for cp in store.checkpoints()}
    for n, (seq, token) in enumerate(sorted(tokens.items())):
        cp = by_seq.get(seq)
        if cp is None:
            return n, f"a token for checkpoint #{seq}, which the store does not have"
        try:
            verify_token(token, stamped_bytes(cp), roots)
        except TimestampError as exc:
            return n, f"checkpoint #{seq}: {exc}"
    return len(tokens), None
