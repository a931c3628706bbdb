"""The cancel-keys GIN index without a pending list (``fastupdate = off``).

With GIN's fast update, new entries go to an unsorted pending list that every search reads in
full until VACUUM or the list's size limit (``gin_pending_list_limit``, 4 MB) merges it: a cancel's
lookup then read every recently scheduled run's entry (bench/timed: 107 buffers and 5.8 ms for
one row after 100,000 runs were scheduled, against 4 buffers for the re-plan's B-tree). Without
it each insert updates the index at once, and a lookup reads only its key.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER INDEX ix_scheduled_resumes_cancel_keys SET (fastupdate = off)")


def downgrade() -> None:
    op.execute("ALTER INDEX ix_scheduled_resumes_cancel_keys RESET (fastupdate)")
