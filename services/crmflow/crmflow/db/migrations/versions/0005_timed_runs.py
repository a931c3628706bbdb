"""Timed runs (SPEC section 8): what re-plans and cancels find a waiting run by, and cancelOn.

``scheduled_resumes`` gains the rule, the triggering entity a ``delay_until`` follows and how to
recompute its due time (``binding``), and the run's cancel keys; each lookup has its own partial
index over the rows it can touch, so a re-plan or a cancel never scans the waiting runs.
``automation_rules.cancel_on`` holds the rule's ``cancelOn`` entries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("automation_rules", sa.Column("cancel_on", JSONB, nullable=True))
    op.add_column("scheduled_resumes", sa.Column("rule_id", UUID(as_uuid=False)))
    op.add_column("scheduled_resumes", sa.Column("bound_entity_id", sa.Text))
    op.add_column("scheduled_resumes", sa.Column("binding", JSONB))
    op.add_column("scheduled_resumes", sa.Column("cancel_keys", ARRAY(sa.Text)))
    op.create_index(
        "ix_scheduled_resumes_bound",
        "scheduled_resumes",
        ["practice_id", "bound_entity_id", "rule_id"],
        postgresql_where=sa.text("bound_entity_id IS NOT NULL AND status = 'pending'"),
    )
    op.create_index(
        "ix_scheduled_resumes_cancel_keys",
        "scheduled_resumes",
        ["cancel_keys"],
        postgresql_using="gin",
        postgresql_where=sa.text("cancel_keys IS NOT NULL AND status IN ('pending', 'emitted')"),
    )


def downgrade() -> None:
    op.drop_index("ix_scheduled_resumes_cancel_keys", "scheduled_resumes")
    op.drop_index("ix_scheduled_resumes_bound", "scheduled_resumes")
    for column in ("cancel_keys", "binding", "bound_entity_id", "rule_id"):
        op.drop_column("scheduled_resumes", column)
    op.drop_column("automation_rules", "cancel_on")
