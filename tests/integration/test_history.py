"""Rule versions and the audit log on real PostgreSQL: every change keeps its version and writes
its audit entry in the change's own transaction; the audit table refuses UPDATE, DELETE and
TRUNCATE; no secret reaches it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from crmflow import audit
from crmflow.apikeys import create_key, revoke_key
from crmflow.db.tables import audit_log
from crmflow.practice_settings import update_settings
from crmflow.rule_history import list_versions
from crmflow.rules_repo import create_rule, delete_rule, get_rule, restore_rule, update_rule
from crmflow.settings import Settings
from tests.support.rules import NOTE_ACTION

pytestmark = pytest.mark.integration

RULE = {"name": "r", "enabled": True, "triggerEvent": "crm/patient.created", "actionsJson": [NOTE_ACTION]}


def entries(engine: Engine, practice_id: str) -> list[dict]:
    with engine.connect() as conn:
        items, _total = audit.list_entries(conn, practice_id, limit=200)
    return items


def test_every_change_keeps_a_version_and_an_audit_entry(engine: Engine, practice: dict[str, str]) -> None:
    pid = practice["id"]
    with engine.begin() as conn:
        rule = create_rule(conn, pid, RULE, actor="abcd1234")
    with engine.begin() as conn:
        update_rule(conn, pid, rule["id"], {"name": "renamed"}, actor="abcd1234")
    with engine.begin() as conn:
        update_rule(conn, pid, rule["id"], {"enabled": False})
    with engine.begin() as conn:
        assert delete_rule(conn, pid, rule["id"], actor="abcd1234")
        assert get_rule(conn, pid, rule["id"]) is None
    with engine.begin() as conn:
        first = list_versions(conn, pid, rule["id"])[-1]["definition"]
        restored = restore_rule(conn, pid, rule["id"], first, restored_from=1, actor="abcd1234")
    assert restored is not None and restored["version"] == 5 and restored["name"] == "r"
    with engine.connect() as conn:
        assert get_rule(conn, pid, rule["id"]) == restored  # a deleted rule comes back
        versions = list_versions(conn, pid, rule["id"])
    assert [(v["version"], v["change"], v["changedBy"]) for v in versions] == [
        (5, "restore", "abcd1234"),
        (4, "delete", "abcd1234"),
        (3, "disable", "cli"),
        (2, "update", "abcd1234"),
        (1, "create", "abcd1234"),
    ]
    assert versions[0]["restoredFrom"] == 1 and versions[0]["definition"] == first
    assert versions[3]["definition"]["name"] == "renamed"
    log = [e for e in entries(engine, pid) if e["entityType"] == "rule"]
    assert [e["action"] for e in log] == [
        "rule.restore",
        "rule.delete",
        "rule.disable",
        "rule.update",
        "rule.create",
    ]
    assert log[-1]["before"] is None and log[-1]["after"]["name"] == "r"
    assert log[3]["before"]["name"] == "r" and log[3]["after"]["name"] == "renamed"
    assert log[1]["after"] is None
    assert all(e["entityId"] == rule["id"] for e in log)


def test_a_rolled_back_change_leaves_neither_version_nor_entry(
    engine: Engine, practice: dict[str, str]
) -> None:
    with engine.connect() as conn:
        with conn.begin() as tx:
            rule = create_rule(conn, practice["id"], RULE)
            tx.rollback()
        assert list_versions(conn, practice["id"], rule["id"]) == []
    assert [e for e in entries(engine, practice["id"]) if e["entityType"] == "rule"] == []


def test_settings_and_keys_are_audited_without_secrets(
    engine: Engine, practice: dict[str, str], settings: Settings
) -> None:
    pid = practice["id"]
    with engine.begin() as conn:
        update_settings(conn, pid, {"timeZone": "Europe/Berlin"}, actor="abcd1234")
        update_settings(conn, pid, {"timeZone": "Europe/Berlin"})  # no change: no entry
        key = create_key(conn, pid, settings.api_key_secret)
        assert revoke_key(conn, key, settings.api_key_secret) == 1
    log = entries(engine, pid)
    by_action = {e["action"]: e for e in log}
    assert by_action["practice.settings"]["before"] == {"timeZone": "UTC"}
    assert by_action["practice.settings"]["after"] == {"timeZone": "Europe/Berlin"}
    assert by_action["practice.settings"]["actor"] == "abcd1234"
    prefix = key.split("_")[1]
    assert by_action["api_key.revoke"]["after"]["prefix"] == prefix
    assert by_action["api_key.revoke"]["after"]["revokedAt"]
    assert [e["action"] for e in log].count("api_key.create") == 2  # the fixture's key and this one
    assert key not in str(log) and key.split("_", 2)[2] not in str(log)
    assert sum(1 for e in log if e["action"] == "practice.settings") == 1


def test_record_redacts_values_named_like_secrets(engine: Engine, practice: dict[str, str]) -> None:
    with engine.begin() as conn:
        audit.record(
            conn,
            practice_id=practice["id"],
            actor="cli",
            action="webhook.secret_rotate",
            entity_type="webhook",
            entity_id="w1",
            before={"secret": "old-s3cret", "url": "https://example.test"},
            after={"nested": {"signingSecret": "new-s3cret", "apiKey": "cf_x_y"}, "secretPrefix": None},
        )
    (entry,) = [e for e in entries(engine, practice["id"]) if e["entityType"] == "webhook"]
    assert "s3cret" not in str(entry) and "cf_x_y" not in str(entry)
    assert entry["before"] == {"secret": "[redacted]", "url": "https://example.test"}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'someone else' WHERE practice_id = CAST(:p AS uuid)",
        "DELETE FROM audit_log WHERE practice_id = CAST(:p AS uuid)",
        "TRUNCATE audit_log",
    ],
)
def test_audit_entries_cannot_be_changed_or_deleted(
    engine: Engine, practice: dict[str, str], statement: str
) -> None:
    with engine.begin() as conn:
        create_rule(conn, practice["id"], RULE)
    before = entries(engine, practice["id"])
    assert before
    with engine.begin() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text(statement), {"p": practice["id"]})
    assert entries(engine, practice["id"]) == before
    with engine.connect() as conn:
        assert conn.execute(select(audit_log.c.id).where(audit_log.c.practice_id == practice["id"])).first()
