"""Alembic migrations create exactly the tables the code declares (no drift)."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from crmflow.apikeys import create_practice
from crmflow.db.migrate import alembic_config
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


def test_practice_settings_migrate_down_and_up_with_their_defaults(engine, settings):
    config = alembic_config(settings)
    settings_revision = ScriptDirectory.from_config(config).get_revision("0004_practice_settings")
    with engine.begin() as conn:
        practice_id = create_practice(conn, "Migrated practice")
        conn.execute(
            text("UPDATE practices SET time_zone = 'Europe/Berlin' WHERE id = CAST(:id AS uuid)"),
            {"id": practice_id},
        )
    try:
        command.downgrade(config, str(settings_revision.down_revision))
        with engine.connect() as conn:
            columns = conn.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = 'practices'")
            ).scalars()
            assert {"time_zone", "quiet_hours", "updated_at"}.isdisjoint(columns)
    finally:
        command.upgrade(config, "head")
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT time_zone, quiet_hours, updated_at >= created_at AS stamped FROM practices "
                "WHERE id = CAST(:id AS uuid)"
            ),
            {"id": practice_id},
        ).one()
    assert tuple(row) == ("UTC", None, True)  # existing practices start at the defaults
