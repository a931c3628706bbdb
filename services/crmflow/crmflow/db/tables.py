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
    Index("ix_outbox_events_retention", "created_at", postgresql_where=text("payload IS NOT NULL")),
    # A backtest's keyset pages: one practice's events of one trigger in time order (migration 0012).
    Index("ix_outbox_events_practice_name", "practice_id", "event_name", "created_at", "id"),
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
    Column("enrollment", JSONB, nullable=True),  # {key?, reenroll} or null (= always; SPEC 13)
    Column("paused", Text, nullable=True),  # 'hold' | 'skip' | null (SPEC 13)
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
    Index("ix_automation_runs_retention", "created_at", postgresql_where=text("trace IS NOT NULL")),
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
    Index("ix_automation_action_logs_retention", "created_at", postgresql_where=text("args IS NOT NULL")),
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
    # A wait_for_event (SPEC section 13): the run's wait key, and the awaited event once one came
    # (null at the timeout): what the resume continues with (crmflow.wait_for_event).
    Column("wait_key", Text),
    Column("waited_event", JSONB),
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
    Index(
        "ix_scheduled_resumes_wait_key",
        "practice_id",
        "rule_id",
        "wait_key",
        postgresql_where=text("wait_key IS NOT NULL AND status = 'pending'"),
    ),
    # Held runs of a paused rule and parked failed runs (SPEC section 13), by rule, in order.
    Index(
        "ix_scheduled_resumes_parked",
        "rule_id",
        "due_at",
        postgresql_where=text("status IN ('held', 'failed')"),
    ),
    # Runs released from hold (or retried from their first action) not yet executed: new runs of
    # the rule for the patient queue behind them (statements.INSERT_RUNS).
    Index(
        "ix_scheduled_resumes_released",
        "rule_id",
        "command_key",
        postgresql_where=text("action_index = 0 AND status IN ('pending', 'emitted')"),
    ),
)


awaited_signals = Table(
    "awaited_signals",
    metadata,
    # An event a rule's wait_for_event awaits (SPEC section 13), kept so a run reaching the wait
    # after it arrived still takes it (no lost race); pruned after CRMFLOW_WAIT_SIGNAL_RETENTION_SECONDS.
    _practice(),
    Column("rule_id", UUID(as_uuid=False), nullable=False),
    Column("wait_key", Text, nullable=False),  # crmflow.wait_for_event.wait_key
    Column("event_id", UUID(as_uuid=False), nullable=False),
    Column("occurred_at", TIMESTAMP(timezone=True), nullable=False),
    Column("event", JSONB, nullable=False),  # what later actions see as waitedEvent
    _created(),
    PrimaryKeyConstraint("practice_id", "rule_id", "wait_key", "event_id"),
    Index("ix_awaited_signals_created", "created_at"),
)

# Every definition a rule had (crmflow.rule_history): one row per version, written with the change.
rule_versions = Table(
    "rule_versions",
    metadata,
    Column("rule_id", UUID(as_uuid=False), nullable=False),
    Column("version", Integer, nullable=False),
    _practice(),
    Column("definition", JSONB, nullable=False),  # {name, enabled, triggerEvent, conditionsJson, ...}
    Column("change", Text, nullable=False),  # create, update, enable, disable, delete, restore
    Column("restored_from", Integer, nullable=True),
    Column("changed_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    Column("changed_by", Text, nullable=True),  # API key prefix, "cli"; null: before versions were kept
    PrimaryKeyConstraint("rule_id", "version"),
)

# Append-only (crmflow.audit): a trigger (migration 0011) makes UPDATE, DELETE and TRUNCATE fail.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _practice(),
    Column("at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("entity_type", Text, nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("before", JSONB, nullable=True),
    Column("after", JSONB, nullable=True),
    Index("ix_audit_log_practice", "practice_id", "at"),
    Index("ix_audit_log_entity_type", "practice_id", "entity_type", "at"),
)


backtests = Table(
    "backtests",
    metadata,
    # A backtest (SPEC section 10): a rule's definition replayed over the practice's retained
    # events; its result row is the only thing it writes.
    _id(),
    _practice(),
    Column("rule_id", UUID(as_uuid=False)),  # null: an unsaved definition
    Column("rule_version", Integer),
    Column("definition", JSONB, nullable=False),  # {triggerEvent, conditionsJson, actionsJson}
    Column("status", Text, nullable=False, server_default="running"),  # running|done|failed|cancelled
    Column("since", TIMESTAMP(timezone=True), nullable=False),
    Column("until", TIMESTAMP(timezone=True), nullable=False),
    Column("events_scanned", Integer, nullable=False, server_default="0"),
    Column("matched", Integer, nullable=False, server_default="0"),
    Column("capped", Boolean, nullable=False, server_default=text("false")),
    Column("by_day", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("sample", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("error", Text),
    _created(),
    _updated(),  # moves with each page: a running row that stops moving belonged to a dead process
    Column("finished_at", TIMESTAMP(timezone=True)),
    Index("ix_backtests_practice", "practice_id", "created_at"),
    # One running backtest per practice: a second INSERT fails (the API answers 409).
    Index(
        "ux_backtests_running",
        "practice_id",
        unique=True,
        postgresql_where=text("status = 'running'"),
    ),
)


# Enrollment claims (SPEC section 13): the run a rule's key value is enrolled in, claimed in that
# run's transaction. The primary key makes two concurrent claims of one value wait for each other:
# the second sees the first (``reenroll`` never: refused; after_finish: refused until ``ended_at``).
rule_enrollments = Table(
    "rule_enrollments",
    metadata,
    Column("rule_id", UUID(as_uuid=False), nullable=False),
    Column("enrollment_key", Text, nullable=False),
    _practice(),
    Column("run_id", UUID(as_uuid=False), nullable=False),
    Column("reenroll", Text, nullable=False),  # never | after_finish (the claiming run's policy)
    Column("claimed_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    Column("ended_at", TIMESTAMP(timezone=True)),  # null while the run is active
    PrimaryKeyConstraint("rule_id", "enrollment_key"),
    Index("ix_rule_enrollments_run", "run_id"),
)

# Bulk cancel / retry (SPEC section 13): the operation and the runs it matched when requested;
# the action-runner's bulk worker applies it to them in chunks.
bulk_operations = Table(
    "bulk_operations",
    metadata,
    _id(),
    _practice(),
    Column("action", Text, nullable=False),  # cancel | retry
    Column("filter", JSONB, nullable=False),
    Column("status", Text, nullable=False, server_default="queued"),  # queued | running | done
    Column("matched", Integer, nullable=False),
    Column("processed", Integer, nullable=False, server_default="0"),
    Column("changed", Integer, nullable=False, server_default="0"),
    _created(),
    _updated(),
    Column("finished_at", TIMESTAMP(timezone=True)),
    Index("ix_bulk_operations_open", "created_at", postgresql_where=text("status <> 'done'")),
    Index("ix_bulk_operations_practice", "practice_id", "created_at"),
)

bulk_operation_runs = Table(
    "bulk_operation_runs",
    metadata,
    Column("operation_id", UUID(as_uuid=False), ForeignKey("bulk_operations.id"), nullable=False),
    Column("run_id", UUID(as_uuid=False), nullable=False),
    Column("outcome", Text),  # null until applied; changed | unchanged
    PrimaryKeyConstraint("operation_id", "run_id"),
    Index("ix_bulk_operation_runs_open", "operation_id", postgresql_where=text("outcome IS NULL")),
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
