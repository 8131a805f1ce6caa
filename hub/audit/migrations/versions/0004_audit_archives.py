"""Archived months and the hashes of pruned records; the log's DELETE guard lets through only a
record whose month was archived and whose hash is kept.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ARCHIVED = (
    "EXISTS (SELECT 1 FROM audit_pruned p WHERE p.seq = OLD.seq AND p.hash = OLD.hash) AND "
    "EXISTS (SELECT 1 FROM audit_archives a WHERE OLD.seq BETWEEN a.first_seq AND a.last_seq)"
)


def upgrade() -> None:
    op.create_table(
        "audit_archives",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("manifest_digest", sa.String(64), nullable=False),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_pruned",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in ("audit_archives", "audit_pruned"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
            )
        op.execute(
            f"""
            CREATE FUNCTION audit_log_prune_only() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' AND {ARCHIVED} THEN
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION 'the % table is append-only (% refused)', TG_TABLE_NAME, TG_OP;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_prune_only()"
        )
    elif dialect == "sqlite":
        for table in ("audit_archives", "audit_pruned"):
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the {table} table is append-only'); END"
                )
        op.execute("DROP TRIGGER audit_log_no_delete")
        op.execute(
            f"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log WHEN NOT ({ARCHIVED}) "
            "BEGIN SELECT RAISE(ABORT, 'the audit_log table is append-only'); END"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        op.execute("DROP FUNCTION IF EXISTS audit_log_prune_only()")
        for table in ("audit_archives", "audit_pruned"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER audit_log_no_delete")
        op.execute(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'the audit_log table is append-only'); END"
        )
    op.drop_table("audit_pruned")
    op.drop_table("audit_archives")
