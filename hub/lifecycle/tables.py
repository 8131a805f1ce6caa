"""The ledger's tables (台账), in the same SQLAlchemy metadata and database as ``hub.storage``.

* ``ledger``: one row per original message: state, the time of each transition, the result.
* ``obligations``: one row per (message, stage) the recipient owes, with due / warn / escalate
  instants.  Partial indexes on each instant, restricted to the rows still waiting for that
  event, are all the SLA timer reads: due work is found by index range, never by a scan.
* ``board_totals``: hand-offs and finished hand-offs per (sender, connector, family), updated in
  the same transaction as the ledger, for the board.
* ``ledger_events``: the id of every reply applied, so a redelivered reply changes nothing.
* ``sla_events``: every warning, breach, escalation and flight-inspection flag, written in the
  same transaction as the claim on its obligation (so each fires once), and published from
  here under a short lease (an outbox: a crash between claim and publish only delays it).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    String,
    Table,
    Text,
    text,
)

from hub.lifecycle.states import State
from hub.storage.engine import metadata

ledger = Table(
    "ledger",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("family", String(64), nullable=False),
    Column("sender", String(32), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("routed_to", String(32), nullable=False),
    Column("risk_level", String(16)),
    Column("state", String(16), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True)),
    Column("accepted_at", DateTime(timezone=True)),
    Column("returned_at", DateTime(timezone=True)),
    Column("in_progress_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("return_reason", Text),
    Column("result", String(32)),
    Column("recovered_fen", BigInteger),
    Column("penalties_fen", BigInteger),
    Column("sanctions", Text),  # JSON {kind: count}
    Column("result_note", Text),
    #: The latest processing report (处理报告) a feedback or closure carried, as the audit log
    #: keeps documents: ``n:wire_size:chunks_root``.
    Column("processing_report", Text),
    Column("last_event_id", String(64)),
    # What the console searches by (each indexed below): the regions of the two sides, the
    # sender's own reference (clue id, hand-off id …) and the recipient's case number.
    Column("sender_region", String(6)),
    Column("recipient_region", String(6)),
    Column("reference", String(64)),
    Column("case_number", String(64)),
)

obligations = Table(
    "obligations",
    metadata,
    Column("obligation_id", String(80), primary_key=True),  # <message_id>:<stage>
    Column("message_id", String(64), nullable=False, index=True),
    Column("stage", String(16), nullable=False),
    Column("debtor", String(32), nullable=False),
    Column("creditor", String(32), nullable=False),
    Column("family", String(64), nullable=False),
    Column("risk_level", String(16)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("warn_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("escalate_at", DateTime(timezone=True), nullable=False),
    Column("warned_at", DateTime(timezone=True)),
    Column("breached_at", DateTime(timezone=True)),
    Column("escalated_at", DateTime(timezone=True)),
    Column("fulfilled_at", DateTime(timezone=True)),
)


def _partial(name: str, column: str, *conditions: str) -> Index:
    where = " AND ".join(("fulfilled_at IS NULL", *conditions))
    return Index(
        name,
        obligations.c[column],
        sqlite_where=text(where),
        postgresql_where=text(where),
    )


# Each index holds only the obligations still waiting for that event, so it stays as small as
# the backlog of due work, and "ORDER BY instant LIMIT n" reads n index entries.
_partial("ix_obligations_warn", "warn_at", "warned_at IS NULL")
_partial("ix_obligations_due", "due_at", "breached_at IS NULL")
_partial("ix_obligations_escalate", "escalate_at", "escalated_at IS NULL")
# The SLA board and the open-obligations gauge read open rows only.
_partial("ix_obligations_open", "debtor")
# The console's "overdue only": for each hand-off of the time walk, whether an open obligation
# is past due, answered from the index alone (bench/console_search.py: 38 ms at 10⁶, was a
# heap read per hand-off walked).
Index("ix_obligations_open_due", obligations.c.message_id, obligations.c.due_at,
      sqlite_where=text("fulfilled_at IS NULL"),
      postgresql_where=text("fulfilled_at IS NULL"))  # fmt: skip

# The board's receipt times read only the last weeks' receipts, by this index.
Index("ix_ledger_received", ledger.c.received_at)
# The console's filters, one index each, with the time for its order.  Regions have none: a
# region matches a share of the 台账, and the search walks the time index instead
# (hub.console.search), so an index per side would only slow every delivery.
for _column in ("family", "state", "reference", "case_number"):
    Index(f"ix_ledger_{_column}", ledger.c[_column], ledger.c.delivered_at)
Index("ix_ledger_delivered", ledger.c.delivered_at)

#: Hand-offs per (sender, connector delivered to, family), kept up to date in the transaction
#: that changes the ledger, so the board never aggregates the whole ledger.
board_totals = Table(
    "board_totals",
    metadata,
    Column("sender", String(32), primary_key=True),
    Column("routed_to", String(32), primary_key=True),
    Column("family", String(64), primary_key=True),
    Column("messages", BigInteger, nullable=False),
    Column("closed", BigInteger, nullable=False),  # in a terminal state (CLOSED or RETURNED)
)

ledger_events = Table(
    "ledger_events",
    metadata,
    Column("message_id", String(64), primary_key=True),  # the reply's own id
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("family", String(64), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

sla_events = Table(
    "sla_events",
    metadata,
    Column("event_id", String(100), primary_key=True),  # <obligation_id>:<kind>
    Column("obligation_id", String(80), nullable=False, index=True),
    Column("kind", String(24), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("family", String(64), nullable=False),
    Column("debtor", String(32), nullable=False),
    Column("creditor", String(32), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    Column("escalated_to", Text, nullable=False),  # JSON list of AGENCY@REGION
    Column("risk_level", String(16)),
    Column("published_at", DateTime(timezone=True)),
    Column("lease_until", DateTime(timezone=True)),
    # Who holds the lease: only that holder may mark the event published (a fencing token).
    Column("lease_owner", String(64)),
)
Index(
    "ix_sla_events_unpublished",
    sla_events.c.fired_at,
    sqlite_where=sla_events.c.published_at.is_(None),
    postgresql_where=sla_events.c.published_at.is_(None),
)

#: Which column of ``obligations`` an event kind claims, and which instant makes it due.
KIND_COLUMNS = {
    "WARNING": ("warned_at", "warn_at"),
    "BREACH": ("breached_at", "due_at"),
    "ESCALATION": ("escalated_at", "escalate_at"),
}
STATE_COLUMNS = {
    State.RECEIVED: "received_at",
    State.ACCEPTED: "accepted_at",
    State.RETURNED: "returned_at",
    State.IN_PROGRESS: "in_progress_at",
    State.CLOSED: "closed_at",
}
