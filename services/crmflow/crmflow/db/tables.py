"""Table definitions (SQLAlchemy Core). Alembic migrations create them; a test checks both agree.

Every table carries ``practice_id``: every query filters by it. Timestamps come from the
database (``clock_timestamp()``, so rows written late in a long transaction carry their own time,
which the latency benchmark relies on).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP, UUID

from crmflow.statuses import DeliveryStatus, ResumeStatus

metadata = MetaData()

NOW = text("clock_timestamp()")
NEW_ID = text("gen_random_uuid()")


def _id() -> Column:
    return Column("id", UUID(as_uuid=False), primary_key=True, server_default=NEW_ID)


def _practice() -> Column:
    return Column("practice_id", UUID(as_uuid=False), ForeignKey("practices.id"), nullable=False)


def _created() -> Column:
    return Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW)


def _updated() -> Column:
    return Column("updated_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW)


def _run_ref() -> Column:
    """The automation run that created a row (null when a user did)."""
    return Column("run_id", UUID(as_uuid=False), nullable=True)


practices = Table(
    "practices",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    _created(),
    # Bumped by every rule change of the practice (crmflow.rules_repo); stamped on its outbox rows.
    Column("rules_seq", BigInteger, nullable=False, server_default="0"),
    # Settings (crmflow.practice_settings): an IANA zone name of the shipped tzdata, and
    # {"start": "HH:MM", "end": "HH:MM"} in that zone or null.
    Column("time_zone", Text, nullable=False, server_default="UTC"),
    Column("quiet_hours", JSONB, nullable=True),
    _updated(),
    # {"perPatientPerDay"?: n, "perPatientPerWeek"?: n} or null (SPEC section 13).
    Column("message_caps", JSONB, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    _practice(),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("key_prefix", Text, nullable=False),
    _created(),
    Column("revoked_at", TIMESTAMP(timezone=True), nullable=True),
)

patients = Table(
    "patients",
    metadata,
    _id(),
    _practice(),
    Column("first_name", Text, nullable=False),
    Column("last_name", Text, nullable=False),
    Column("email", Text),
    Column("phone", Text),
    Column("date_of_birth", Date),
    Column("status", Text, nullable=False, server_default="active"),
    Column("tags", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("preferred_contact_method", Text),
    Column("preferred_language", Text),
    Column("next_follow_up_at", TIMESTAMP(timezone=True)),
    _created(),
    _updated(),
    # Consent to messages that leave the system (SPEC section 9), off unless set.
    Column("sms_opt_in", Boolean, nullable=False, server_default=text("false")),
    Column("email_opt_in", Boolean, nullable=False, server_default=text("false")),
    Index("ix_patients_practice", "practice_id", "created_at"),
)

appointments = Table(
    "appointments",
    metadata,
    _id(),
    _practice(),
    Column("patient_id", UUID(as_uuid=False), ForeignKey("patients.id"), nullable=False),
    Column("starts_at", TIMESTAMP(timezone=True), nullable=False),
    Column("visit_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("provider", Text),
    _created(),
    _updated(),
    Index("ix_appointments_patient", "practice_id", "patient_id"),
)

notes = Table(
    "notes",
    metadata,
    _id(),
    _practice(),
    Column("patient_id", UUID(as_uuid=False), ForeignKey("patients.id"), nullable=False),
    Column("body", Text, nullable=False),
    _run_ref(),
    _created(),
    Index("ix_notes_patient", "practice_id", "patient_id", "created_at"),
)

tasks = Table(
    "tasks",
    metadata,
    _id(),
    _practice(),
    Column("patient_id", UUID(as_uuid=False), ForeignKey("patients.id"), nullable=True),
    Column("title", Text, nullable=False),
    Column("description", Text),
    Column("status", Text, nullable=False, server_default="draft"),
    Column("due_at", TIMESTAMP(timezone=True)),
    Column("assignee", Text),
    _run_ref(),
    _created(),
    _updated(),
    Index("ix_tasks_patient", "practice_id", "patient_id", "created_at"),
)

message_drafts = Table(
    "message_drafts",
    metadata,
    _id(),
    _practice(),
    Column("patient_id", UUID(as_uuid=False), ForeignKey("patients.id"), nullable=False),
    Column("channel", Text, nullable=False),
    Column("to_address", Text, nullable=False),
    Column("subject", Text),
    Column("body", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="draft"),  # draft | sending | sent | failed
    _run_ref(),
    _created(),
    Column("error", Text),  # why a send failed (no_consent, the provider's refusal...)
    Column("sent_at", TIMESTAMP(timezone=True)),
    Index("ix_message_drafts_patient", "practice_id", "patient_id", "created_at"),
)

outbox_events = Table(
    "outbox_events",
    metadata,
    _id(),
    Column("practice_id", UUID(as_uuid=False), nullable=False),
    # Debezium's EventRouter routes by aggregate_type (topic crm.<aggregate_type>) and keys by
    # aggregate_id; payload is the event envelope (NULL -> tombstone).
    Column("aggregate_type", Text, nullable=False),
    Column("aggregate_id", Text, nullable=False),
    Column("event_name", Text, nullable=False),
    Column("payload", JSONB, nullable=True),
    # pending -> published: set by the action-runner when the evaluator's marker for this event
    # arrives, so "pending" means "not yet seen downstream" (see /api/internal/outbox/publish).
    Column("status", Text, nullable=False, server_default="pending"),
    Column("correlation_id", Text),
    Column("causation_id", Text),
    Column("depth", Integer, nullable=False, server_default="0"),
    _created(),
    Column("published_at", TIMESTAMP(timezone=True)),
    Column("kafka_topic", Text),
    Column("kafka_partition", Integer),
    Column("kafka_offset", BigInteger),
    Column("kafka_timestamp", TIMESTAMP(timezone=True)),
    Column("runs_expected", Integer),
    # The practice's rules_seq when an event was written, or the one a rule change set (header
    # rulesSeq): the evaluator holds an event until its rules index has reached it.
    Column("rules_seq", BigInteger, nullable=False, server_default="0"),
    Index("ix_outbox_events_status", "status", "created_at"),
    Index("ix_outbox_events_practice", "practice_id", "created_at"),
)

automation_rules = Table(
    "automation_rules",
    metadata,
    _id(),
    _practice(),
    Column("name", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("trigger_event", Text, nullable=False),
    Column("conditions_json", JSONB, nullable=True),
    Column("actions_json", JSONB, nullable=False),
    Column("cancel_on", JSONB, nullable=True),  # [{eventName, match, conditionsJson?}] or null
    Column("version", Integer, nullable=False, server_default="1"),
    _created(),
    _updated(),
    # Deleted rules stay as rows so their runs keep their history; the API hides them.
    Column("deleted_at", TIMESTAMP(timezone=True)),
    Index("ix_automation_rules_practice", "practice_id", "trigger_event"),
)

automation_runs = Table(
    "automation_runs",
    metadata,
    # Deterministic: uuid5(event id, rule id), so a redelivered event never makes a second run.
    Column("id", UUID(as_uuid=False), primary_key=True),
    _practice(),
    Column("rule_id", UUID(as_uuid=False), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("event_id", UUID(as_uuid=False), nullable=False),
    Column("event_name", Text, nullable=False),
    Column("patient_id", Text),
    Column("status", Text, nullable=False),
    Column("trace", JSONB),
    Column("error", Text),
    Column("correlation_id", Text),
    Column("causation_id", Text),
    Column("depth", Integer, nullable=False, server_default="0"),
    Column("started_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    Column("finished_at", TIMESTAMP(timezone=True)),
    _created(),
    _updated(),
    Index("ix_automation_runs_practice", "practice_id", "started_at"),
    Index("ix_automation_runs_rule", "rule_id", "started_at"),
    Index("ix_automation_runs_event", "event_id"),
)

automation_action_logs = Table(
    "automation_action_logs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _practice(),
    Column("run_id", UUID(as_uuid=False), ForeignKey("automation_runs.id"), nullable=False),
    Column("action_index", Integer, nullable=False),
    Column("action_type", Text, nullable=False),
    Column("args", JSONB),
    Column("status", Text, nullable=False),
    Column("result", JSONB),
    Column("error", Text),
    Column("attempt", Integer, nullable=False, server_default="1"),
    _created(),
    Index("ix_automation_action_logs_run", "run_id", "action_index"),
    Index("ix_automation_action_logs_practice", "practice_id", "created_at"),
)

# The idempotency key of an action's effect: inserted in the same transaction as the effect.
action_executions = Table(
    "action_executions",
    metadata,
    Column("run_id", UUID(as_uuid=False), nullable=False),
    Column("action_index", Integer, nullable=False),
    _practice(),
    _created(),
    PrimaryKeyConstraint("run_id", "action_index"),
)

# Durable delays: the rest of a run, due at ``due_at``; the runner's scheduler resumes it.
scheduled_resumes = Table(
    "scheduled_resumes",
    metadata,
    Column("run_id", UUID(as_uuid=False), nullable=False),
    Column("action_index", Integer, nullable=False),
    _practice(),
    Column("due_at", TIMESTAMP(timezone=True), nullable=False),
    Column("command", JSONB, nullable=False),
    # The Kafka key of the run's commands, which its resume is sent with (commands.run_command_key).
    Column("command_key", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=ResumeStatus.PENDING.value),
    _created(),
    Column("resumed_at", TIMESTAMP(timezone=True)),
    # What re-plans and cancels find a waiting run by (SPEC section 8), null when nothing can:
    Column("rule_id", UUID(as_uuid=False)),
    Column("bound_entity_id", Text),  # the triggering entity whose field a delay_until follows
    Column("binding", JSONB),  # {entityType, field, offsetSeconds, atLocalTime, ifPast}
    Column("cancel_keys", ARRAY(Text)),  # RunCommand.cancelKeys
    PrimaryKeyConstraint("run_id", "action_index"),
    Index("ix_scheduled_resumes_due", "status", "due_at"),
    Index(
        "ix_scheduled_resumes_bound",
        "practice_id",
        "bound_entity_id",
        "rule_id",
        postgresql_where=text("bound_entity_id IS NOT NULL AND status = 'pending'"),
    ),
    Index(
        "ix_scheduled_resumes_cancel_keys",
        "cancel_keys",
        postgresql_using="gin",
        postgresql_where=text("cancel_keys IS NOT NULL AND status IN ('pending', 'emitted')"),
        postgresql_with={"fastupdate": "off"},  # no pending list for lookups to read (migration 0006)
    ),
)

# Messages handed to a sender (SPEC section 9, crmflow.deliveries): one row per message with its
# attempts. ``idempotency_key`` (unique) is what the provider sees on every attempt; ``message``
# (address, subject, body) is kept only until the delivery is final.
message_deliveries = Table(
    "message_deliveries",
    metadata,
    _id(),
    _practice(),
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("channel", Text, nullable=False),
    Column("patient_id", UUID(as_uuid=False)),
    Column("run_id", UUID(as_uuid=False)),  # an automated send: the run and its action
    Column("action_index", Integer),
    Column("action_type", Text),
    Column("draft_id", UUID(as_uuid=False)),  # an approved draft
    Column("status", Text, nullable=False, server_default=DeliveryStatus.PENDING.value),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False, server_default="5"),
    Column("next_attempt_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    Column("provider_id", Text),
    Column("error", Text),
    Column("detail", Text),
    Column("message", JSONB),
    Column("command", JSONB),  # the run's command: the run resumes after the delivery
    Column("command_key", Text),
    _created(),
    _updated(),
    Column("finished_at", TIMESTAMP(timezone=True)),
    Index("ix_message_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    Index("ix_message_deliveries_patient", "practice_id", "patient_id", "created_at"),
    Index("ix_message_deliveries_run", "run_id", "action_index"),
    Index("ix_message_deliveries_draft", "draft_id"),
)

# Each practice's webhook signing secrets (SPEC section 9), encrypted with CRMFLOW_SECRET_KEY
# (crmflow.webhook_secrets). ``signs_until`` null: the current secret (one per practice); a past
# secret keeps signing beside it until then (the rotation's grace period).
webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    _id(),
    _practice(),
    Column("secret_encrypted", Text, nullable=False),
    _created(),
    Column("signs_until", TIMESTAMP(timezone=True)),
    Index(
        "ux_webhook_secrets_current",
        "practice_id",
        unique=True,
        postgresql_where=text("signs_until IS NULL"),
    ),
    Index("ix_webhook_secrets_practice", "practice_id", "created_at"),
)
