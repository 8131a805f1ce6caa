"""The audit store: an append-only, hash-chained table of audit events, and its checkpoints.

One URL setting (``audit_url``; SQLite in the hub's home by default, PostgreSQL in production)
and an Alembic-managed schema (``hub/audit/migrations``), brought up to date whenever a store
is opened.  Database triggers refuse UPDATE and DELETE on both tables, so an honest mistake
cannot rewrite history; a dishonest one with the rights to drop a trigger is what the hash
chain and the signed checkpoints catch (``hub.audit.chain``).

Appending is idempotent on ``event_id``: a redelivered event is skipped, so the sink can run
at-least-once.  One writer at a time extends the chain: PostgreSQL serialises appends with a
transaction-scoped advisory lock; on SQLite a second writer's insert fails (stale snapshot or
duplicate ``seq``) and is retried on the new head.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from hub.audit.chain import (
    GENESIS,
    Checkpoint,
    chained_fields,
    json_text,
    record_hash,
    sign_checkpoint,
)
from hub.audit.events import AuditEvent
from hub.audit.schema import (
    audit_checkpoints,
    audit_log,
    audit_meta,
    audit_pruned,
    migrate,
)
from hub.audit.tiles import HEIGHT, integrate_quietly
from hub.core.clock import as_utc, iso_ms, truncate_ms
from hub.storage.engine import make_engine
from hub.trust import regions, suites
from hub.trust.keys import SigningKey
from hub.trust.suites import Suite

log = logging.getLogger("hub.audit")

_ADVISORY_LOCK = 0x4155444954  # "AUDIT"


def _row_to_record(row: Any) -> dict[str, Any]:
    """A stored row as the chain hashes it: instants as ISO text, JSON columns as stored."""
    out = dict(row._mapping)
    for name in ("occurred_at", "recorded_at"):
        if out.get(name) is not None:
            out[name] = iso_ms(out[name])
    return out


@dataclass(frozen=True)
class AppendResult:
    appended: int
    skipped: int
    head_seq: int
    kinds: dict[str, int] = field(default_factory=dict)  # what was appended, by kind

    def plus(self, other: AppendResult) -> AppendResult:
        kinds = dict(self.kinds)
        for kind, n in other.kinds.items():
            kinds[kind] = kinds.get(kind, 0) + n
        return AppendResult(
            self.appended + other.appended,
            self.skipped + other.skipped,
            max(self.head_seq, other.head_seq),
            kinds,
        )


class AuditStore:
    """``new_log_suite`` is the suite a log started by this store hashes with (the writer's
    ``crypto_suite``); a log that has records keeps the suite it started with (``suite``)."""

    def __init__(
        self, url: str, *, migrate_schema: bool = True, new_log_suite: str = suites.DEFAULT
    ) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate_schema:
            migrate(self.engine)
        self.new_log_suite = suites.by_name(new_log_suite)
        self._tiled = 0  # the log size whose full tiles this store object has stored
        self._suite: Suite | None = None

    @property
    def suite(self) -> Suite:
        """The suite whose hash chains this log and builds its tree: the one recorded when its
        first record was appended; for a log from before that was recorded (or an empty one not
        yet claimed) SHA-256's, ``intl``."""
        if self._suite is None:
            with self.engine.connect() as conn:
                recorded = _recorded_suite(conn)
            if recorded is None:
                return self.new_log_suite if self.count() == 0 else suites.INTL
            self._suite = recorded
        return self._suite

    def close(self) -> None:
        self.engine.dispose()

    # -- writing -------------------------------------------------------------------------------
    def append(self, events: Sequence[AuditEvent], *, now: datetime | None = None) -> AppendResult:
        """Append the events not yet in the log, in order, extending the chain; then store the
        tree's tiles the append completed (one per 256 records: ``hub.audit.tiles``)."""
        result = self._appended(events, now or datetime.now(UTC))
        if result.head_seq >> HEIGHT != self._tiled >> HEIGHT:
            self._tiled = integrate_quietly(self, result.head_seq, self._tiled)
        return result

    def _appended(self, events: Sequence[AuditEvent], now: datetime) -> AppendResult:
        for attempt in range(5):
            try:
                return self._append_once(events, now)
            except (IntegrityError, OperationalError) as exc:
                # Another writer extended the chain between our read of the head and our insert
                # (a duplicate seq, or SQLite's stale snapshot / busy lock): read the head again.
                # Any other database error is not a race and is raised at once.
                if attempt == 4 or not _is_race(exc):
                    raise
                log.warning("audit append raced another writer, retrying: %s", exc.orig)
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _append_once(self, events: Sequence[AuditEvent], now: datetime) -> AppendResult:
        recorded = truncate_ms(now)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
            seen = self._existing_ids(conn, [e.event_id for e in events])
            seq, prev = _head(conn)
            suite = _claim_suite(conn, self.new_log_suite if seq == 0 else suites.INTL)
            rows = []
            for ev in events:
                if ev.event_id in seen:
                    continue
                seen.add(ev.event_id)
                seq += 1
                record = self._record(ev, seq, recorded)
                record["prev_hash"] = prev
                record["hash"] = prev = record_hash(prev, chained_fields(record), suite)
                rows.append(record)
            if rows:
                conn.execute(audit_log.insert(), rows)
        kinds: dict[str, int] = {}
        for r in rows:
            kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        return AppendResult(len(rows), len(events) - len(rows), seq, kinds)

    @staticmethod
    def _record(ev: AuditEvent, seq: int, recorded: datetime) -> dict[str, Any]:
        return {
            "seq": seq,
            "event_id": ev.event_id,
            "kind": ev.kind,
            "occurred_at": as_utc(truncate_ms(ev.occurred_at)),
            "recorded_at": as_utc(recorded),
            "message_id": ev.message_id,
            "conversation_id": ev.conversation_id,
            "family": ev.family,
            "sender": ev.sender,
            "recipient": ev.recipient,
            "routed_to": ev.routed_to,
            "status": ev.status,
            "signed": json_text(ev.signed.to_json()) if ev.signed else None,
            "facts": json_text(ev.facts),
        }

    @staticmethod
    def _existing_ids(conn: Connection, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            found.update(
                conn.execute(
                    select(audit_log.c.event_id).where(audit_log.c.event_id.in_(chunk))
                ).scalars()
            )
        return found

    def checkpoint(self, key: SigningKey, *, now: datetime | None = None) -> Checkpoint | None:
        """Sign the current head unless the last checkpoint already covers it."""
        with self.engine.begin() as conn:
            seq, head_hash = _head(conn)
            last = conn.execute(select(func.max(audit_checkpoints.c.seq))).scalar() or 0
            if seq <= last:  # nothing new (or an empty log)
                return None
            cp = sign_checkpoint(key, seq, head_hash, iso_ms(now or datetime.now(UTC)))
            conn.execute(
                audit_checkpoints.insert().values(
                    seq=cp.seq,
                    head_hash=cp.head_hash,
                    signed_at=cp.signed_at,
                    key_id=cp.key_id,
                    signature=cp.signature.hex(),
                )
            )
        log.info("audit checkpoint signed at record #%d (%s)", cp.seq, cp.head_hash[:16])
        return cp

    # -- reading -------------------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            return _head(conn)

    def count(self) -> int:
        """Records ever appended, pruned ones included (``seq`` runs from 1 without gaps)."""
        return self.head()[0]

    def last_checkpoint_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(audit_checkpoints.c.seq))).scalar() or 0)

    def records(
        self, *, batch: int = 5000, after: int = 0, upto: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record in ``seq`` order (those after ``after`` and up to ``upto`` when given),
        as the chain hashes it, streamed in batches."""
        while True:
            stmt = select(audit_log).where(audit_log.c.seq > after)
            if upto is not None:
                stmt = stmt.where(audit_log.c.seq <= upto)
            with self.engine.connect() as conn:
                rows = conn.execute(stmt.order_by(audit_log.c.seq).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield _row_to_record(row)
            after = rows[-1].seq

    def last_checkpoint(self) -> Checkpoint | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1)
            ).first()
        if r is None:
            return None
        return Checkpoint(r.seq, r.head_hash, r.signed_at, r.key_id, bytes.fromhex(r.signature))

    def checkpoints(self) -> list[Checkpoint]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq)).all()
        return [
            Checkpoint(r.seq, r.head_hash, r.signed_at, r.key_id, bytes.fromhex(r.signature))
            for r in rows
        ]

    def trail(self, message_id: str, *, upto: int | None = None) -> list[dict[str, Any]]:
        """Every record about one message: its own events, its replies', its SLA events; only
        those in the first ``upto`` records when given (a proof's tree of that size)."""
        with self.engine.connect() as conn:
            conv = conn.execute(
                select(audit_log.c.conversation_id)
                .where(audit_log.c.message_id == message_id)
                .where(audit_log.c.conversation_id.is_not(None))
                .limit(1)
            ).scalar()
            ids = {message_id, conv} - {None}
            stmt = (
                select(audit_log)
                .where(or_(audit_log.c.message_id.in_(ids), audit_log.c.conversation_id.in_(ids)))
                .order_by(audit_log.c.seq)
            )
            if upto is not None:
                stmt = stmt.where(audit_log.c.seq <= upto)
            rows = conn.execute(stmt).all()
        return [_row_to_record(r) for r in rows]

    def iter_record_hashes(self, size: int | None = None, *, batch: int = 10_000) -> Iterator[str]:
        """The chain hashes of the first ``size`` records (all when None) in ``seq`` order, the
        leaves of the transparency log's tree, streamed: memory does not grow with the log.

        Each batch is its own short read keyed on ``seq``, so the sink is never held up; records
        are appended with consecutive ``seq`` in one transaction, so the first ``size`` records
        are the same in every read."""
        after = 0
        for table in (audit_pruned, audit_log):  # pruned records keep their hashes, first
            while size is None or after < size:
                stmt = (
                    select(table.c.seq, table.c.hash)
                    .where(table.c.seq > after)
                    .order_by(table.c.seq)
                    .limit(batch if size is None else min(batch, size - after))
                )
                with self.engine.connect() as conn:
                    rows = conn.execute(stmt).all()
                if not rows:
                    break
                for row in rows:
                    yield row.hash
                after = rows[-1].seq

    def predecessor_hash(self, seq: int) -> str:
        if seq <= 1:
            return GENESIS
        with self.engine.connect() as conn:
            value = conn.execute(
                select(audit_log.c.hash).where(audit_log.c.seq == seq - 1)
            ).scalar()
        return value or ""

    def search(
        self,
        *,
        agency: str | None = None,
        family: str | None = None,
        region: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Sequence[str] | None = None,
        status: str | None = None,
        limit: int = 1000,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Records matching every given filter, oldest first (or the newest ``limit``)."""
        cond = []
        parties = (audit_log.c.sender, audit_log.c.recipient, audit_log.c.routed_to)
        if agency:
            cond.append(or_(*(c.like(f"{agency.upper()}@%") for c in parties)))
        if region:
            pattern = "%@" + regions.prefix(region) + "%"
            cond.append(or_(*(c.like(pattern) for c in parties)))
        if family:
            cond.append(audit_log.c.family == family)
        if since:
            cond.append(audit_log.c.occurred_at >= as_utc(since))
        if until:
            cond.append(audit_log.c.occurred_at < as_utc(until))
        if kinds:
            cond.append(audit_log.c.kind.in_(list(kinds)))
        if status:
            cond.append(audit_log.c.status == status.upper())
        order = audit_log.c.seq.desc() if newest_first else audit_log.c.seq
        stmt = select(audit_log).where(and_(True, *cond)).order_by(order).limit(limit)
        with self.engine.connect() as conn:
            return [_row_to_record(r) for r in conn.execute(stmt).all()]

    def events_of_kinds(self, kinds: Sequence[str]) -> Iterator[dict[str, Any]]:
        """All records of the given kinds, oldest first (the weekly report's input)."""
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=2000).execute(
                select(audit_log).where(audit_log.c.kind.in_(list(kinds))).order_by(audit_log.c.seq)
            )
            for row in result:
                yield _row_to_record(row)


def _recorded_suite(conn: Connection) -> Suite | None:
    value = conn.execute(select(audit_meta.c.value).where(audit_meta.c.name == "hash")).scalar()
    return suites.by_name(str(value)) if value else None


def _claim_suite(conn: Connection, suite: Suite) -> Suite:
    """The log's suite, recorded now (inside the appending transaction) if it was not yet."""
    recorded = _recorded_suite(conn)
    if recorded is not None:
        return recorded
    conn.execute(audit_meta.insert().values(name="hash", value=suite.name))
    return suite


def _head(conn: Connection) -> tuple[int, str]:
    """(seq, hash) of the newest record (or pruned record); (0, GENESIS) for an empty log."""
    for table in (audit_log, audit_pruned):
        row = conn.execute(
            select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
        ).first()
        if row:
            return row.seq, row.hash
    return 0, GENESIS


def _is_race(exc: IntegrityError | OperationalError) -> bool:
    message = str(exc.orig).lower()
    if isinstance(exc, IntegrityError):
        return "seq" in message or "primary" in message or "pkey" in message or "unique" in message
    return "locked" in message or "busy" in message
