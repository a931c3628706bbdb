"""History (SPEC section 10): rule versions, the append-only audit log, and the retention index.

``rule_versions`` keeps every definition a rule had, one row per version (created, updated,
enabled/disabled, deleted, restored), with when and by whom; the rules already there get a row
for their current version (who made it is not known: ``changed_by`` null).

``audit_log`` is append-only: a trigger makes every UPDATE, DELETE and TRUNCATE of it fail, so no
code path (nor a mistaken hand-written statement) can rewrite what it records.

Three partial indexes on ``created_at`` of the rows retention has not pruned yet (payload, trace or
args not null) let ``crmflow retention run`` take its batches oldest first without scanning the
rows it already pruned; pruned rows leave them.

Revision ID: 0011
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NOW = sa.text("clock_timestamp()")
RETAINED = (
    ("ix_outbox_events_retention", "outbox_events", "payload"),
    ("ix_automation_runs_retention", "automation_runs", "trace"),
    ("ix_automation_action_logs_retention", "automation_action_logs", "args"),
)


def upgrade() -> None:
    op.create_table(
        "rule_versions",
        sa.Column("rule_id", UUID(as_uuid=False), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("practice_id", UUID(as_uuid=False), sa.ForeignKey("practices.id"), nullable=False),
        sa.Column("definition", JSONB, nullable=False),
        sa.Column("change", sa.Text, nullable=False),
        sa.Column("restored_from", sa.Integer, nullable=True),
        sa.Column("changed_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
        sa.Column("changed_by", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("rule_id", "version"),
    )
    op.execute(
        """
        INSERT INTO rule_versions (rule_id, version, practice_id, definition, change, changed_at)
        SELECT id, version, practice_id,
               jsonb_build_object('name', name, 'enabled', enabled, 'triggerEvent', trigger_event,
                                  'conditionsJson', conditions_json, 'actionsJson', actions_json,
                                  'cancelOn', cancel_on),
               CASE WHEN deleted_at IS NOT NULL THEN 'delete'
                    WHEN version = 1 THEN 'create' ELSE 'update' END,
               COALESCE(deleted_at, updated_at)
        FROM automation_rules
        """
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("practice_id", UUID(as_uuid=False), sa.ForeignKey("practices.id"), nullable=False),
        sa.Column("at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("entity_type", sa.Text, nullable=False),
        sa.Column("entity_id", sa.Text, nullable=False),
        sa.Column("before", JSONB, nullable=True),
        sa.Column("after", JSONB, nullable=True),
    )
    op.create_index("ix_audit_log_practice", "audit_log", ["practice_id", "at"])
    op.create_index("ix_audit_log_entity_type", "audit_log", ["practice_id", "entity_type", "at"])
    op.execute(
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )
    for name, table, column in RETAINED:
        op.create_index(name, table, ["created_at"], postgresql_where=sa.text(f"{column} IS NOT NULL"))


def downgrade() -> None:
    for name, table, _column in RETAINED:
        op.drop_index(name, table_name=table)
    op.drop_table("audit_log")  # its triggers go with it
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("rule_versions")
