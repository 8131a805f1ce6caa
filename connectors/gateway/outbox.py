"""An agency's own database as its door to the hub: an outbox table its application inserts
into, and an inbox table the gateway writes what arrives into (PostgreSQL or MariaDB).

``hub_outbox`` has the columns of Debezium's outbox pattern (``id, aggregatetype, aggregateid,
type, payload``) plus ``family``, ``recipient``, an optional ``correlation_id`` and ``seq``, an
increasing number the database gives each row.  The application inserts a row in the same
transaction as its own change; the relay publishes it:

- **one relay at a time** holds a database lock (``pg_try_advisory_lock`` / ``GET_LOCK``), and
  publishes rows one after another in ``seq`` order, so rows never overtake each other as they
  do when several pollers take rows with ``SKIP LOCKED``.  (A row whose transaction commits
  after a later-numbered row was already published is published when it becomes visible: the
  relay never skips a row.)
- **exactly one message per row across restarts**: the row's sealed bytes are written to
  ``hub_outbox_sent`` (state ``sealed``) and committed *before* they are published, then the
  state becomes ``sent``.  A relay that stopped in between publishes the same bytes again, which
  the hub recognises as a repeat of the same message.
- a row that cannot be sent (unknown family, payload not fitting its schema) is marked
  ``refused`` with the problems (JSON pointers, never values), counted and logged; the rows after
  it go on.

``hub_inbox`` gets every verified, decoded message once (key: message id and sender).
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    create_engine,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from connectors.client import Connector
from connectors.documents import as_planned
from connectors.gateway.outbox_documents import documents, row_documents
from connectors.gateway.outbox_tables import inbox, meta, outbox, sent
from connectors.messages import InboxMessage
from hub.core.clock import now_utc
from hub.storage.engine import safe_url
from hub.trust.address import Address
from hub.trust.suites import identifier
from hub.wire import jsoncheck
from hub.wire.envelope import ID_PATTERN
from hub.wire.families import FAMILIES, check_payload
from hub.wire.jsonpayload import from_json

log = logging.getLogger("connectors.gateway.outbox")


def agency_engine(url: str) -> Engine:
    if not url.startswith(("postgresql", "mysql", "mariadb")):
        raise ValueError(
            "the agency database is PostgreSQL or MariaDB (postgresql+psycopg:// "
            "or mysql+pymysql://)"
        )
    return create_engine(url, pool_pre_ping=True)


def create_tables(engine: Engine) -> None:
    """``hub outbox init``: the tables, where the application's owner role may make them."""
    meta.create_all(engine)


__all__ = ["create_tables", "documents", "inbox", "outbox", "sent"]


def documents_folder(home: Path, address: Address, given: str = "") -> Path:
    """The folder a row's document ``path`` must lie in: ``given``, or
    ``<home>/outbox/<AGENCY@REGION>.documents`` (made if missing)."""
    folder = Path(given) if given else home / "outbox" / f"{address}.documents"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def message_id_for(row_id: str) -> str:
    """The row's id when it is a valid message id (a UUID is), else one derived from it."""
    if ID_PATTERN.fullmatch(row_id):
        return row_id
    return "outbox-" + identifier(row_id.encode())[:40]


@dataclass(frozen=True)
class Round:
    sent: int = 0
    refused: int = 0


class OutboxRelay:
    def __init__(
        self,
        engine: Engine,
        connector: Connector,
        *,
        batch: int = 100,
        work_dir: Path | None = None,
        documents_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.connector = connector
        self.batch = batch
        #: The only folder a row's document ``path`` may name (None: paths are refused, documents
        #: travel as ``content``).  Rows are written by the agency's application, not trusted.
        self.documents_dir = documents_dir
        #: Where documents stored in the database are copied out to be sent (then removed).
        self.work_dir = work_dir or Path(tempfile.gettempdir()) / f"hub-outbox-{connector.address}"
        self._lock_conn: Any = None
        # The database is in the key: MariaDB's GET_LOCK names are the whole server's (not one
        # database's, as PostgreSQL's advisory locks are), so two agency databases on one server
        # would otherwise shut each other's relay out.
        where = f"{engine.url.database}:{connector.address}"
        self.lock_key = zlib.crc32(f"hub_outbox:{where}".encode())

    # -- one relay at a time --------------------------------------------------------------------
    def acquire(self) -> bool:
        """Take the database lock that makes this the only relay; False when another has it."""
        if self._lock_conn is not None:
            return True
        conn = self.engine.connect()
        if conn.dialect.name == "postgresql":
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.lock_key})
        else:
            got = conn.execute(text("SELECT GET_LOCK(:k, 0)"), {"k": f"hub_outbox_{self.lock_key}"})
        if got.scalar():
            conn.commit()
            self._lock_conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is None:
            return
        # Unlocked explicitly: closing a pooled connection keeps its session, and the lock.
        try:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.lock_key})
            else:
                conn.execute(text("SELECT RELEASE_LOCK(:k)"), {"k": f"hub_outbox_{self.lock_key}"})
            conn.commit()
        finally:
            conn.close()

    # -- publishing -----------------------------------------------------------------------------
    def run_once(self) -> Round:
        """Publish what is waiting, in order, until the broker refuses; needs the lock."""
        if not self.acquire():
            return Round()
        done = refused = 0
        stmt = (
            select(outbox, sent.c.state, sent.c.raw)
            .select_from(outbox.outerjoin(sent, sent.c.id == outbox.c.id))
            .where((sent.c.id.is_(None)) | (sent.c.state == "sealed"))
            .order_by(outbox.c.seq)
            .limit(self.batch)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        for row in rows:
            raw = row["raw"] if row["state"] == "sealed" else self._seal(row)
            if raw is None:
                refused += 1
                continue
            try:
                self.connector.send_raw(bytes(raw), key=self._key(row))
            except Exception as exc:
                log.warning(
                    "outbox row %s kept for the next round: %s", row["seq"], type(exc).__name__
                )
                break  # the order holds: nothing after it goes first
            self._mark(row["id"], "sent")
            done += 1
        if done or refused:
            log.info("outbox: %d published, %d refused", done, refused)
        return Round(done, refused)

    def _key(self, row: Any) -> bytes:
        return str(row["correlation_id"] or message_id_for(row["id"])).encode()

    def _seal(self, row: Any) -> bytes | None:
        """Seal a row and keep its bytes before they are published; None when it is refused."""
        try:
            problems, sealed = self._check_and_seal(row)
        except (
            ValueError
        ) as exc:  # not JSON, a recipient that is no address, an id off the alphabet
            # A document the bytes deny (media_mismatch) names its reason, never its contents.
            detail = getattr(exc, "reason", None) or type(exc).__name__
            problems, sealed = [jsoncheck.Problem("", detail)], None
        if sealed is None:
            detail = json.dumps([p.__dict__ for p in problems], ensure_ascii=False)
            self._write(row["id"], None, "refused", None, detail)
            log.error(
                "outbox row %s refused: %s",
                row["seq"],
                "; ".join(f"{p.pointer} {p.detail}" for p in problems),
            )
            return None
        message_id, raw = sealed
        self._write(row["id"], message_id, "sealed", raw, None)
        return raw

    def _check_and_seal(self, row: Any) -> tuple[list[jsoncheck.Problem], tuple[str, bytes] | None]:
        fam = FAMILIES.get(row["family"])
        if fam is None or fam.hub_only:
            return [jsoncheck.Problem("/family", "is not a family agencies send")], None
        schema = self.connector.registry.latest(fam.schema_stem)
        value = json.loads(row["payload"])
        problems = [jsoncheck.under("/payload", p) for p in jsoncheck.problems(schema.raw, value)]
        if problems:
            return problems, None
        payload = from_json(schema.raw, value)
        to = Address.parse(row["recipient"])
        env, raw = self.connector.seal_message(
            row["family"],
            to,
            payload,
            correlation_id=row["correlation_id"],
            message_id=message_id_for(row["id"]),
        )
        docs = row_documents(self.engine, row["id"], self.work_dir, self.documents_dir)
        if docs.problems:
            return docs.problems, None
        planned = as_planned(env, len(docs.files))
        problems = [jsoncheck.rule_problem(r) for r in check_payload(fam, payload, planned)]
        if problems:
            docs.remove()
            return problems, None
        if docs.files:  # chunks out now; the envelope signed over them is kept, then published
            try:
                env, raw = self.connector.publish_documents_and_seal(
                    row["family"], to, payload, docs.files,
                    correlation_id=row["correlation_id"], message_id=env.message_id,
                )  # fmt: skip
            finally:
                docs.remove()
        return [], (env.message_id, raw)

    def _write(
        self,
        row_id: str,
        message_id: str | None,
        state: str,
        raw: bytes | None,
        problems: str | None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(sent).values(
                    id=row_id,
                    message_id=message_id,
                    state=state,
                    raw=raw,
                    problems=problems,
                    updated_at=now_utc(),
                )
            )

    def _mark(self, row_id: str, state: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(sent).where(sent.c.id == row_id).values(state=state, updated_at=now_utc())
            )


class DatabaseInbox:
    """Writes each verified message into the agency's ``hub_inbox`` table, once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(self, msg: InboxMessage) -> bool:
        body = msg.to_json()
        payload = body.pop("payload")
        row = {
            "message_id": msg.message_id,
            "sender": str(msg.envelope.sender),
            "family": msg.family,
            "correlation_id": msg.envelope.correlation_id,
            "payload": json.dumps(payload, ensure_ascii=False),
            "envelope": json.dumps(body, ensure_ascii=False),
            "received_at": now_utc(),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(inbox).values(row))
        except IntegrityError:
            return False  # delivered again: written once already
        return True


class OutboxRunner:
    """The relay on a timer, in a thread (``hub outbox``, or inside ``hub gateway``)."""

    def __init__(self, relay: OutboxRelay, *, interval_s: float = 0.5) -> None:
        self.relay = relay
        self.interval_s = interval_s
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> OutboxRunner:
        log.info(
            "outbox relay for %s on %s",
            self.relay.connector.address,
            safe_url(str(self.relay.engine.url)),
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        waiting = False
        while not self.stop.is_set():
            try:
                held = self.relay.acquire()
                if not held and not waiting:
                    log.info("another relay holds the outbox lock; waiting for it")
                waiting = not held
                if held:
                    self.relay.run_once()
            except Exception:
                log.exception("outbox round failed; trying again")
            self.stop.wait(self.interval_s)
        self.relay.release()

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self._thread.join(timeout)
