"""Reach (SPEC section 9): delivery records, patients' consent, drafts that are sent, and the
practices' frequency caps (SPEC section 13, ``message_caps``).

``message_deliveries``: one row per message handed to a sender (an automated send of a run's
action, or an approved draft), with its attempts. ``idempotency_key`` is unique: a run's action
(``<run id>:<action index>``) or a draft's send is queued once whatever is redelivered.
``message`` holds what is sent (address, subject, body) only until the delivery is final.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NOW = sa.text("clock_timestamp()")


def upgrade() -> None:
    op.add_column("patients", sa.Column("sms_opt_in", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column(
        "patients", sa.Column("email_opt_in", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column("practices", sa.Column("message_caps", JSONB, nullable=True))
    op.add_column("message_drafts", sa.Column("error", sa.Text, nullable=True))
    op.add_column("message_drafts", sa.Column("sent_at", TIMESTAMP(timezone=True), nullable=True))
    op.create_table(
        "message_deliveries",
        sa.Column("id", UUID(as_uuid=False), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("practice_id", UUID(as_uuid=False), sa.ForeignKey("practices.id"), nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("patient_id", UUID(as_uuid=False), nullable=True),
        sa.Column("run_id", UUID(as_uuid=False), nullable=True),
        sa.Column("action_index", sa.Integer, nullable=True),
        sa.Column("action_type", sa.Text, nullable=True),
        sa.Column("draft_id", UUID(as_uuid=False), nullable=True),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="5"),
        sa.Column("next_attempt_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
        sa.Column("provider_id", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("message", JSONB, nullable=True),
        sa.Column("command", JSONB, nullable=True),
        sa.Column("command_key", sa.Text, nullable=True),
        sa.Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
        sa.Column("finished_at", TIMESTAMP(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_message_deliveries_due",
        "message_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_message_deliveries_patient", "message_deliveries", ["practice_id", "patient_id", "created_at"]
    )
    op.create_index("ix_message_deliveries_run", "message_deliveries", ["run_id", "action_index"])
    op.create_index("ix_message_deliveries_draft", "message_deliveries", ["draft_id"])


def downgrade() -> None:
    op.drop_table("message_deliveries")
    op.drop_column("message_drafts", "sent_at")
    op.drop_column("message_drafts", "error")
    op.drop_column("patients", "email_opt_in")
    op.drop_column("patients", "sms_opt_in")
    op.drop_column("practices", "message_caps")
