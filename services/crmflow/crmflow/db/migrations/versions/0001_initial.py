"""Initial schema: CRM tables, outbox, rules, runs, action logs, idempotency keys, delays.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("clock_timestamp()")
NEW_ID = sa.text("gen_random_uuid()")
PUBLICATION = "crmflow_outbox"


def ts(name: str, *, nullable: bool = False, default: bool = True) -> sa.Column:
    return sa.Column(
        name, TIMESTAMP(timezone=True), nullable=nullable, server_default=NOW if default else None
    )


def uuid(name: str, *args: Any, **kw: Any) -> sa.Column:
    return sa.Column(name, UUID(as_uuid=False), *args, **kw)


def id_col() -> sa.Column:
    return uuid("id", primary_key=True, server_default=NEW_ID)


def practice_fk() -> sa.Column:
    return uuid("practice_id", sa.ForeignKey("practices.id"), nullable=False)


def upgrade() -> None:
    op.create_table("practices", id_col(), sa.Column("name", sa.Text, nullable=False), ts("created_at"))
    op.create_table(
        "api_keys",
        id_col(),
        practice_fk(),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("key_prefix", sa.Text, nullable=False),
        ts("created_at"),
        ts("revoked_at", nullable=True, default=False),
    )
    op.create_table(
        "patients",
        id_col(),
        practice_fk(),
        sa.Column("first_name", sa.Text, nullable=False),
        sa.Column("last_name", sa.Text, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("date_of_birth", sa.Date),
        sa.Column("status", sa.Text, nullable=False, server_default="active"),
        sa.Column("tags", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("preferred_contact_method", sa.Text),
        sa.Column("preferred_language", sa.Text),
        ts("next_follow_up_at", nullable=True, default=False),
        ts("created_at"),
        ts("updated_at"),
    )
    op.create_index("ix_patients_practice", "patients", ["practice_id", "created_at"])
    op.create_table(
        "appointments",
        id_col(),
        practice_fk(),
        uuid("patient_id", sa.ForeignKey("patients.id"), nullable=False),
        ts("starts_at", default=False),
        sa.Column("visit_type", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("provider", sa.Text),
        ts("created_at"),
        ts("updated_at"),
    )
    op.create_index("ix_appointments_patient", "appointments", ["practice_id", "patient_id"])
    op.create_table(
        "notes",
        id_col(),
        practice_fk(),
        uuid("patient_id", sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        uuid("run_id", nullable=True),
        ts("created_at"),
    )
    op.create_index("ix_notes_patient", "notes", ["practice_id", "patient_id", "created_at"])
    op.create_table(
        "tasks",
        id_col(),
        practice_fk(),
        uuid("patient_id", sa.ForeignKey("patients.id"), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default="draft"),
        ts("due_at", nullable=True, default=False),
        sa.Column("assignee", sa.Text),
        uuid("run_id", nullable=True),
        ts("created_at"),
        ts("updated_at"),
    )
    op.create_index("ix_tasks_patient", "tasks", ["practice_id", "patient_id", "created_at"])
    op.create_table(
        "message_drafts",
        id_col(),
        practice_fk(),
        uuid("patient_id", sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("to_address", sa.Text, nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="draft"),
        uuid("run_id", nullable=True),
        ts("created_at"),
    )
    op.create_index(
        "ix_message_drafts_patient", "message_drafts", ["practice_id", "patient_id", "created_at"]
    )
    op.create_table(
        "outbox_events",
        id_col(),
        uuid("practice_id", nullable=False),
        sa.Column("aggregate_type", sa.Text, nullable=False),
        sa.Column("aggregate_id", sa.Text, nullable=False),
        sa.Column("event_name", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=True),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("correlation_id", sa.Text),
        sa.Column("causation_id", sa.Text),
        sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
        ts("created_at"),
        ts("published_at", nullable=True, default=False),
        sa.Column("kafka_topic", sa.Text),
        sa.Column("kafka_partition", sa.Integer),
        sa.Column("kafka_offset", sa.BigInteger),
        ts("kafka_timestamp", nullable=True, default=False),
        sa.Column("runs_expected", sa.Integer),
    )
    op.create_index("ix_outbox_events_status", "outbox_events", ["status", "created_at"])
    op.create_index("ix_outbox_events_practice", "outbox_events", ["practice_id", "created_at"])
    op.create_table(
        "automation_rules",
        id_col(),
        practice_fk(),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("trigger_event", sa.Text, nullable=False),
        sa.Column("conditions_json", JSONB, nullable=True),
        sa.Column("actions_json", JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        ts("created_at"),
        ts("updated_at"),
        ts("deleted_at", nullable=True, default=False),
    )
    op.create_index("ix_automation_rules_practice", "automation_rules", ["practice_id", "trigger_event"])
    op.create_table(
        "automation_runs",
        uuid("id", primary_key=True),
        practice_fk(),
        uuid("rule_id", nullable=False),
        sa.Column("rule_version", sa.Integer, nullable=False),
        uuid("event_id", nullable=False),
        sa.Column("event_name", sa.Text, nullable=False),
        sa.Column("patient_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("trace", JSONB),
        sa.Column("error", sa.Text),
        sa.Column("correlation_id", sa.Text),
        sa.Column("causation_id", sa.Text),
        sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
        ts("started_at"),
        ts("finished_at", nullable=True, default=False),
        ts("created_at"),
        ts("updated_at"),
    )
    op.create_index("ix_automation_runs_practice", "automation_runs", ["practice_id", "started_at"])
    op.create_index("ix_automation_runs_rule", "automation_runs", ["rule_id", "started_at"])
    op.create_index("ix_automation_runs_event", "automation_runs", ["event_id"])
    op.create_table(
        "automation_action_logs",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        practice_fk(),
        uuid("run_id", sa.ForeignKey("automation_runs.id"), nullable=False),
        sa.Column("action_index", sa.Integer, nullable=False),
        sa.Column("action_type", sa.Text, nullable=False),
        sa.Column("args", JSONB),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("result", JSONB),
        sa.Column("error", sa.Text),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
        ts("created_at"),
    )
    op.create_index("ix_automation_action_logs_run", "automation_action_logs", ["run_id", "action_index"])
    op.create_index(
        "ix_automation_action_logs_practice", "automation_action_logs", ["practice_id", "created_at"]
    )
    op.create_table(
        "action_executions",
        uuid("run_id", nullable=False),
        sa.Column("action_index", sa.Integer, nullable=False),
        practice_fk(),
        ts("created_at"),
        sa.PrimaryKeyConstraint("run_id", "action_index"),
    )
    op.create_table(
        "scheduled_resumes",
        uuid("run_id", nullable=False),
        sa.Column("action_index", sa.Integer, nullable=False),
        practice_fk(),
        ts("due_at", default=False),
        sa.Column("command", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        ts("created_at"),
        ts("resumed_at", nullable=True, default=False),
        sa.PrimaryKeyConstraint("run_id", "action_index"),
    )
    op.create_index("ix_scheduled_resumes_due", "scheduled_resumes", ["status", "due_at"])
    # Debezium streams this publication (publication.autocreate.mode=disabled). Inserts only:
    # status updates and clean-up deletes of outbox rows never reach Kafka.
    op.execute(f"CREATE PUBLICATION {PUBLICATION} FOR TABLE outbox_events WITH (publish = 'insert')")


def downgrade() -> None:
    op.execute(f"DROP PUBLICATION IF EXISTS {PUBLICATION}")
    for table in (
        "scheduled_resumes",
        "action_executions",
        "automation_action_logs",
        "automation_runs",
        "automation_rules",
        "outbox_events",
        "message_drafts",
        "tasks",
        "notes",
        "appointments",
        "patients",
        "api_keys",
        "practices",
    ):
        op.drop_table(table)
