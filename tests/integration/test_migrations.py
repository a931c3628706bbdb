"""Alembic migrations create exactly the tables the code declares (no drift)."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from crmflow.db.tables import metadata

pytestmark = pytest.mark.integration


def test_migrated_schema_matches_the_table_definitions(engine):
    # Server defaults too (Alembic skips them unless asked): statuses, timestamps and ids rely on them.
    opts = {"compare_type": True, "compare_server_default": True}
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)
    assert diff == []


def test_the_outbox_publication_streams_inserts_only(engine):
    with engine.connect() as conn:
        pub = conn.execute(
            text(
                "SELECT pubinsert, pubupdate, pubdelete FROM pg_publication WHERE pubname = 'crmflow_outbox'"
            )
        ).one()
        tables = (
            conn.execute(text("SELECT tablename FROM pg_publication_tables WHERE pubname = 'crmflow_outbox'"))
            .scalars()
            .all()
        )
    assert tuple(pub) == (True, False, False)
    assert tables == ["outbox_events"]
