"""The log's own settings: which suite's hash chains its records and builds its tree; and room
for an SM2 checkpoint signature (DER, up to 72 bytes: 144 hex digits, over the old 128).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_meta",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
    )
    # Written once, when the first record is appended: a log's hash never changes under it.
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.alter_column("audit_checkpoints", "signature", type_=sa.String(192),
                        existing_type=sa.String(128), existing_nullable=False)  # fmt: skip
        op.execute(
            "CREATE TRIGGER audit_meta_append_only BEFORE UPDATE OR DELETE ON audit_meta "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
    elif dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_meta_no_{action.lower()} BEFORE {action} ON audit_meta "
                "BEGIN SELECT RAISE(ABORT, 'the audit_meta table is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_meta_append_only ON audit_meta")
        op.alter_column("audit_checkpoints", "signature", type_=sa.String(128),
                        existing_type=sa.String(192), existing_nullable=False)  # fmt: skip
    op.drop_table("audit_meta")
