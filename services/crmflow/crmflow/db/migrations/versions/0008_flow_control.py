"""Flow control (SPEC section 13): enrollment policy and pause on rules, enrollment claims, bulk
operations.

``automation_rules`` gains ``enrollment`` ({key?, reenroll} or null) and ``paused`` ('hold',
'skip' or null). ``rule_enrollments`` holds the run each (rule, key value) is enrolled in; its
primary key is what stops two runner instances from both starting a run for one key value.
``bulk_operations`` and ``bulk_operation_runs`` are a bulk cancel/retry and the runs it matched.
Held runs (status 'held') and parked failed runs ('failed') live in ``scheduled_resumes``: a
partial index finds a rule's held rows when it is unpaused.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("automation_rules", sa.Column("enrollment", JSONB, nullable=True))
    op.add_column("automation_rules", sa.Column("paused", sa.Text, nullable=True))
    op.create_table(
        "rule_enrollments",
        sa.Column("rule_id", UUID(as_uuid=False), nullable=False),
        sa.Column("enrollment_key", sa.Text, nullable=False),
        sa.Column("practice_id", UUID(as_uuid=False), sa.ForeignKey("practices.id"), nullable=False),
        sa.Column("run_id", UUID(as_uuid=False), nullable=False),
        sa.Column("reenroll", sa.Text, nullable=False),
        sa.Column(
            "claimed_at",
            sa.TIMESTAMP(timezone=True),
            nullable=False,
            server_default=sa.text("clock_timestamp()"),
        ),
        sa.Column("ended_at", sa.TIMESTAMP(timezone=True)),
        sa.PrimaryKeyConstraint("rule_id", "enrollment_key"),
    )
    op.create_index("ix_rule_enrollments_run", "rule_enrollments", ["run_id"])
    op.create_table(
        "bulk_operations",
        sa.Column("id", UUID(as_uuid=False), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("practice_id", UUID(as_uuid=False), sa.ForeignKey("practices.id"), nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("filter", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="queued"),
        sa.Column("matched", sa.Integer, nullable=False),
        sa.Column("processed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("changed", sa.Integer, nullable=False, server_default="0"),
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
    op.create_index(
        "ix_bulk_operations_open",
        "bulk_operations",
        ["created_at"],
        postgresql_where=sa.text("status <> 'done'"),
    )
    op.create_index("ix_bulk_operations_practice", "bulk_operations", ["practice_id", "created_at"])
    op.create_table(
        "bulk_operation_runs",
        sa.Column("operation_id", UUID(as_uuid=False), sa.ForeignKey("bulk_operations.id"), nullable=False),
        sa.Column("run_id", UUID(as_uuid=False), nullable=False),
        sa.Column("outcome", sa.Text),
        sa.PrimaryKeyConstraint("operation_id", "run_id"),
    )
    op.create_index(
        "ix_bulk_operation_runs_open",
        "bulk_operation_runs",
        ["operation_id"],
        postgresql_where=sa.text("outcome IS NULL"),
    )
    op.create_index(
        "ix_scheduled_resumes_parked",
        "scheduled_resumes",
        ["rule_id", "due_at"],
        postgresql_where=sa.text("status IN ('held', 'failed')"),
    )
    op.create_index(
        "ix_scheduled_resumes_released",
        "scheduled_resumes",
        ["rule_id", "command_key"],
        postgresql_where=sa.text("action_index = 0 AND status IN ('pending', 'emitted')"),
    )


def downgrade() -> None:
    op.drop_index("ix_scheduled_resumes_released", "scheduled_resumes")
    op.drop_index("ix_scheduled_resumes_parked", "scheduled_resumes")
    op.drop_table("bulk_operation_runs")
    op.drop_table("bulk_operations")
    op.drop_table("rule_enrollments")
    op.drop_column("automation_rules", "paused")
    op.drop_column("automation_rules", "enrollment")
