"""Rule-change sequence per practice, stamped on every outbox row (header ``rulesSeq``).

``practices.rules_seq`` counts a practice's rule changes; each rule change publishes its state with
the new value, and each event carries the value current when it was written, so the evaluator can
wait until it holds every rule change saved before the event (order across Kafka topics is not
commit order).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("practices", "outbox_events"):
        op.add_column(table, sa.Column("rules_seq", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    for table in ("practices", "outbox_events"):
        op.drop_column(table, "rules_seq")
