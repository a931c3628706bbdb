"""Backtests (SPEC section 10): their result rows, and the index their reads of the outbox use.

``backtests`` holds one row per backtest: its definition, window, progress, per-day counts and
sample. A partial unique index over running rows makes "one at a time per practice" hold across
rules-api processes.

``ix_outbox_events_practice_name`` (practice, event name, created time, id) lets a backtest read
one practice's events of one trigger in keyset pages of time order, touching only those rows
(the existing (practice, created time) index would read every event of the practice and filter
by name). It is built CONCURRENTLY, so the migration never blocks the outbox's inserts.

Revision ID: 0012
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backtests",
        sa.Column("id", UUID(as_uuid=False), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("practice_id", UUID(as_uuid=False), sa.ForeignKey("practices.id"), nullable=False),
        sa.Column("rule_id", UUID(as_uuid=False)),
        sa.Column("rule_version", sa.Integer),
        sa.Column("definition", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="running"),
        sa.Column("since", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("until", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("events_scanned", sa.Integer, nullable=False, server_default="0"),
        sa.Column("matched", sa.Integer, nullable=False, server_default="0"),
        sa.Column("capped", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("by_day", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("sample", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("error", sa.Text),
        sa.Column(
            "created_at",
            sa.TIMESTAMP(timezone=True),
            nullable=False,
            server_default=sa.text("clock_timestamp()"),
        ),
        sa.Column(
            "updated_at",
            sa.TIMESTAMP(timezone=True),
            nullable=False,
            server_default=sa.text("clock_timestamp()"),
        ),
        sa.Column("finished_at", sa.TIMESTAMP(timezone=True)),
    )
    op.create_index("ix_backtests_practice", "backtests", ["practice_id", "created_at"])
    op.create_index(
        "ux_backtests_running",
        "backtests",
        ["practice_id"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_outbox_events_practice_name",
            "outbox_events",
            ["practice_id", "event_name", "created_at", "id"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_outbox_events_practice_name",
            table_name="outbox_events",
            postgresql_concurrently=True,
            if_exists=True,
        )
    op.drop_table("backtests")
