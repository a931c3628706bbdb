"""Alembic migrations create exactly the tables the code declares (no drift), and fill what
they add for the rows already there."""

import json
import uuid
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from crmflow.apikeys import create_practice
from crmflow.commands import run_command_key
from crmflow.db.migrate import alembic_config, upgrade
from crmflow.db.tables import metadata
from crmflow.settings import Settings

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
    settings_revision = ScriptDirectory.from_config(config).get_revision("0004")
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


def _insert_resume_without_key(conn: Connection, practice_id: str, run_id: str, cmd: dict[str, Any]) -> None:
    """As the runner wrote a delay before 0003 (and a previous release's runner still may)."""
    conn.execute(
        text(
            "INSERT INTO scheduled_resumes (run_id, action_index, practice_id, due_at, command, status)"
            " VALUES (:r, 1, :p, now() + interval '1 day', CAST(:c AS jsonb), 'done')"
        ),
        {"r": run_id, "p": practice_id, "c": json.dumps(cmd)},
    )


def test_0003_gives_resumes_without_a_key_the_key_of_their_run(
    engine: Engine, settings: Settings, practice: dict[str, str]
) -> None:
    patient, entity = str(uuid.uuid4()), str(uuid.uuid4())
    event = {"entityId": entity}
    before: dict[str, Any] = {  # rows there when the migration runs
        str(uuid.uuid4()): {"practiceId": practice["id"], "patientId": patient, "event": event},
        str(uuid.uuid4()): {"practiceId": practice["id"], "patientId": None, "event": event},
    }
    after = {str(uuid.uuid4()): {"practiceId": practice["id"], "patientId": patient, "event": event}}
    command.downgrade(alembic_config(settings), "0002")
    try:
        with engine.begin() as conn:
            for run_id, cmd in before.items():
                _insert_resume_without_key(conn, practice["id"], run_id, cmd)
    finally:
        upgrade(settings)
    with engine.begin() as conn:
        for run_id, cmd in after.items():  # a previous release's runner during a rolling update
            _insert_resume_without_key(conn, practice["id"], run_id, cmd)
        found = conn.execute(
            text("SELECT CAST(run_id AS text), command_key FROM scheduled_resumes WHERE practice_id = :p"),
            {"p": practice["id"]},
        )
        keys: dict[str, str] = {run_id: key for run_id, key in found}
        conn.execute(text("DELETE FROM scheduled_resumes WHERE practice_id = :p"), {"p": practice["id"]})
    stored = {**before, **after}
    assert keys == {run_id: run_command_key(cmd).decode() for run_id, cmd in stored.items()}
    assert sorted(set(keys.values())) == sorted([f"{practice['id']}:{patient}", f"{practice['id']}:{entity}"])
