"""Alembic environment of the audit store.

Run by ``hub.audit.store.migrate`` (and so by every audit store that opens), which hands over
an open connection; ``hub audit migrate`` is the command-line door.  The version is kept in
its own table, so the audit tables can share a database with the hub's store.
"""

from __future__ import annotations

from alembic import context

from hub.audit.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run audit migrations through hub.audit.store.migrate (hub audit migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
