"""wait_for_event (SPEC section 13): waiting runs by wait key, and the awaited events recorded.

``scheduled_resumes`` gains the run's ``wait_key`` (a partial index over the pending waits: a
signal finds the runs it resumes by it) and ``waited_event`` (set by the signal; null when the
wait timed out). ``awaited_signals`` keeps each awaited event per (rule, wait key) so that a run
reaching its wait after the event arrived still takes it (no lost race).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scheduled_resumes", sa.Column("wait_key", sa.Text))
    op.add_column("scheduled_resumes", sa.Column("waited_event", JSONB))
    op.create_index(
        "ix_scheduled_resumes_wait_key",
        "scheduled_resumes",
        ["practice_id", "rule_id", "wait_key"],
        postgresql_where=sa.text("wait_key IS NOT NULL AND status = 'pending'"),
    )
    op.create_table(
        "awaited_signals",
        sa.Column("practice_id", UUID(as_uuid=False), sa.ForeignKey("practices.id"), nullable=False),
        sa.Column("rule_id", UUID(as_uuid=False), nullable=False),
        sa.Column("wait_key", sa.Text, nullable=False),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False),
        sa.Column("occurred_at", TIMESTAMP(timezone=True), nullable=False),
        sa.Column("event", JSONB, nullable=False),
        sa.Column(
            "created_at",
            TIMESTAMP(timezone=True),
            nullable=False,
            server_default=sa.text("clock_timestamp()"),
        ),
        sa.PrimaryKeyConstraint("practice_id", "rule_id", "wait_key", "event_id"),
    )
    op.create_index("ix_awaited_signals_created", "awaited_signals", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_awaited_signals_created", "awaited_signals")
    op.drop_table("awaited_signals")
    op.drop_index("ix_scheduled_resumes_wait_key", "scheduled_resumes")
    op.drop_column("scheduled_resumes", "waited_event")
    op.drop_column("scheduled_resumes", "wait_key")
