"""The Kafka key of a scheduled resume, stored when the delay is scheduled.

The scheduler sends a due resume with the key of its run's commands (so it lands in the
patient's partition); the runner now stores that key with the row (``commands.run_command_key``)
instead of the scheduler re-deriving it from the stored command. Rows written before, and rows a
previous release's runner writes during a rolling update (it does not know the column), get the
same key from the stored command, as ``command_key`` derives it: practice id, then the patient id,
or else the event's entity id. The trigger that fills the latter goes in a later release, once no
runner older than this revision can run.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _key_of(command: str) -> str:
    """SQL: the key of the RunCommand in JSONB ``command``."""
    return (
        f"({command}->>'practiceId') || ':' || coalesce(nullif({command}->>'patientId', ''),"
        f" {command}->'event'->>'entityId', 'None')"
    )


def upgrade() -> None:
    op.add_column("scheduled_resumes", sa.Column("command_key", sa.Text))
    op.execute(f"UPDATE scheduled_resumes SET command_key = {_key_of('command')}")
    op.alter_column("scheduled_resumes", "command_key", nullable=False)
    op.execute(
        f"""
        CREATE FUNCTION scheduled_resumes_command_key() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.command_key IS NULL THEN
                NEW.command_key := {_key_of("NEW.command")};
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER scheduled_resumes_command_key BEFORE INSERT ON scheduled_resumes"
        " FOR EACH ROW EXECUTE FUNCTION scheduled_resumes_command_key()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER scheduled_resumes_command_key ON scheduled_resumes")
    op.execute("DROP FUNCTION scheduled_resumes_command_key()")
    op.drop_column("scheduled_resumes", "command_key")
