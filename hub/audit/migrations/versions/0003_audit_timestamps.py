"""RFC 3161 timestamp tokens of the signed checkpoints, append-only like the log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_timestamps",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("stamped_at", sa.DateTime(timezone=True), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_timestamps_append_only BEFORE UPDATE OR DELETE ON "
            "audit_timestamps FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
    elif dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_timestamps_no_{action.lower()} BEFORE {action} ON "
                "audit_timestamps BEGIN SELECT RAISE(ABORT, 'the audit_timestamps table is "
                "append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_timestamps_append_only ON audit_timestamps")
    op.drop_table("audit_timestamps")
