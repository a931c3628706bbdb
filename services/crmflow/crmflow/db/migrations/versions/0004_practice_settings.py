"""Practice settings (SPEC section 8): the practice's time zone and quiet hours, and when they changed.

``time_zone`` is an IANA name checked against the shipped tzdata by every writer
(``crmflow.practice_settings``); ``quiet_hours`` is ``{"start": "HH:MM", "end": "HH:MM"}`` or null.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("practices", sa.Column("time_zone", sa.Text, nullable=False, server_default="UTC"))
    op.add_column("practices", sa.Column("quiet_hours", JSONB, nullable=True))
    op.add_column(
        "practices",
        sa.Column(
            "updated_at",
            TIMESTAMP(timezone=True),
            nullable=False,
            server_default=sa.text("clock_timestamp()"),
        ),
    )


def downgrade() -> None:
    for column in ("updated_at", "quiet_hours", "time_zone"):
        op.drop_column("practices", column)
