"""Webhook signing secrets (SPEC section 9): one current secret per practice, encrypted with
``CRMFLOW_SECRET_KEY``; a rotated-out secret keeps signing until ``signs_until`` (grace period).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_secrets",
        sa.Column("id", UUID(as_uuid=False), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("practice_id", UUID(as_uuid=False), sa.ForeignKey("practices.id"), nullable=False),
        sa.Column("secret_encrypted", sa.Text, nullable=False),
        sa.Column(
            "created_at",
            TIMESTAMP(timezone=True),
            nullable=False,
            server_default=sa.text("clock_timestamp()"),
        ),
        sa.Column("signs_until", TIMESTAMP(timezone=True), nullable=True),
    )
    op.create_index(
        "ux_webhook_secrets_current",
        "webhook_secrets",
        ["practice_id"],
        unique=True,
        postgresql_where=sa.text("signs_until IS NULL"),
    )
    op.create_index("ix_webhook_secrets_practice", "webhook_secrets", ["practice_id", "created_at"])


def downgrade() -> None:
    op.drop_table("webhook_secrets")
