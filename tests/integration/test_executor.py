"""The runner's executor against real PostgreSQL: every action, exactly once, failure policy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from crmflow.crm.entities import create_patient
from crmflow.settings import Settings
from crmflow_runner.executor import Executor
from crmflow_runner.handlers import build_handlers
from tests.support.runner import delay, note, note_bodies, rows, run_status
from tests.support.runner import run_command as command

pytestmark = pytest.mark.integration


@pytest.fixture
def executor(settings):
    return Executor(build_handlers(settings.patient_field_allowlist))


@pytest.fixture
def patient(engine, practice):
    with engine.begin() as conn:
        return create_patient(
            conn,
            practice["id"],
            {"firstName": "Ann", "lastName": "Lee", "email": "ann@example.com", "phone": "+15550100"},
        )


def execute(engine, executor, commands):
    with engine.begin() as conn:
        return executor.execute(conn, commands)


def test_a_redelivered_command_has_its_effect_once(engine, executor, practice, patient):
    cmd = command(practice["id"], patient, [note()])
    assert [o.status for o in execute(engine, executor, [cmd])] == ["succeeded"]
    assert execute(engine, executor, [cmd]) == []  # redelivery: nothing to do
    assert execute(engine, executor, [cmd, cmd]) == []
    bodies = rows(engine, "SELECT body FROM notes WHERE patient_id = :p", p=patient["id"])
    assert [b.body for b in bodies] == ["Hello Ann"]
    logs = rows(
        engine, "SELECT action_index, status FROM automation_action_logs WHERE run_id = :r", r=cmd["runId"]
    )
    assert [tuple(x) for x in logs] == [(0, "succeeded")]


def test_the_same_command_twice_in_one_batch_runs_once(engine, executor, practice, patient):
    cmd = command(practice["id"], patient, [note()])
    assert len(execute(engine, executor, [cmd, dict(cmd)])) == 1
    assert len(rows(engine, "SELECT 1 FROM notes WHERE run_id = :r", r=cmd["runId"])) == 1


def test_a_permanent_failure_fails_the_run_and_skips_later_actions(engine, executor, practice):
    with engine.begin() as conn:
        no_phone = create_patient(conn, practice["id"], {"firstName": "Bo", "lastName": "Ng"})
    cmd = command(
        practice["id"],
        no_phone,
        [
            note("first"),
            {"type": "draft_sms", "args": {"patientId": "{patientId}", "body": "hi"}},  # no phone
            note("never"),
        ],
    )
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "failed" and "no phone number" in outcome.error
    logs = rows(
        engine,
        "SELECT action_index, status FROM automation_action_logs WHERE run_id = :r ORDER BY action_index",
        r=cmd["runId"],
    )
    assert [tuple(x) for x in logs] == [(0, "succeeded"), (1, "failed"), (2, "skipped")]
    assert [r.body for r in rows(engine, "SELECT body FROM notes WHERE run_id = :r", r=cmd["runId"])] == [
        "first"
    ]
    (run,) = rows(engine, "SELECT status, error FROM automation_runs WHERE id = :r", r=cmd["runId"])
    assert run.status == "failed"


def test_another_practices_patient_is_never_touched(engine, executor, practice, patient):
    with engine.begin() as conn:
        other = conn.execute(text("INSERT INTO practices (name) VALUES ('other') RETURNING id")).scalar_one()
    cmd = command(str(other), patient, [note()])
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "failed" and "not found in this practice" in outcome.error
    assert rows(engine, "SELECT 1 FROM notes WHERE run_id = :r", r=cmd["runId"]) == []


def test_a_forbidden_field_fails_the_whole_update(engine, executor, practice, patient):
    cmd = command(
        practice["id"],
        patient,
        [
            {
                "type": "update_patient_fields",
                "args": {"patientId": "{patientId}", "fields": {"status": "inactive", "email": "x@y.z"}},
            }
        ],
    )
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "failed"
    (row,) = rows(engine, "SELECT status, email FROM patients WHERE id = :p", p=patient["id"])
    assert tuple(row) == ("active", "ann@example.com")


def test_update_emits_patient_updated_one_level_deeper(engine, executor, practice, patient):
    cmd = command(
        practice["id"],
        patient,
        [
            {
                "type": "update_patient_fields",
                "args": {"patientId": "{patientId}", "fields": {"status": "inactive", "tags": ["vip"]}},
            }
        ],
        depth=1,
    )
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "succeeded", outcome.error
    (event,) = rows(engine, "SELECT payload FROM outbox_events WHERE causation_id = :r", r=cmd["runId"])
    payload = event.payload
    assert payload["name"] == "crm/patient.updated" and payload["depth"] == 2
    assert payload["correlationId"] == cmd["correlationId"]
    assert payload["data"]["changes"] == {
        "status": {"from": "active", "to": "inactive"},
        "tags": {"from": [], "to": ["vip"]},
    }


def test_a_delay_waits_then_one_resume_finishes_the_run(engine, executor, practice, patient):
    cmd = command(practice["id"], patient, [note("before"), delay(60), note("after")])
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "waiting"
    assert note_bodies(engine, cmd["runId"]) == ["before"]
    (pending,) = rows(
        engine, "SELECT action_index, status, due_at FROM scheduled_resumes WHERE run_id = :r", r=cmd["runId"]
    )
    assert (pending.action_index, pending.status) == (2, "pending")
    assert 55 < (pending.due_at - datetime.now(UTC)).total_seconds() <= 60
    assert execute(engine, executor, [cmd]) == []  # redelivered while waiting: nothing happens
    assert run_status(engine, cmd["runId"]) == "waiting"

    resume = {"kind": "resume", "runId": cmd["runId"], "actionIndex": 2, "practiceId": practice["id"]}
    (outcome,) = execute(engine, executor, [resume, dict(resume)])  # sent twice: runs once
    assert outcome.status == "succeeded"
    assert execute(engine, executor, [resume]) == []  # re-sent after it ran: nothing happens
    assert note_bodies(engine, cmd["runId"]) == ["before", "after"]
    assert run_status(engine, cmd["runId"]) == "succeeded"
    logs = rows(
        engine,
        "SELECT action_index, status FROM automation_action_logs WHERE run_id = :r ORDER BY id",
        r=cmd["runId"],
    )
    assert [tuple(x) for x in logs] == [(0, "succeeded"), (1, "scheduled"), (2, "succeeded")]


def test_a_resume_for_another_practice_does_nothing(engine, executor, practice, patient):
    cmd = command(practice["id"], patient, [delay(0), note("after")])
    execute(engine, executor, [cmd])
    other = str(uuid.uuid4())
    assert (
        execute(
            engine,
            executor,
            [{"kind": "resume", "runId": cmd["runId"], "actionIndex": 1, "practiceId": other}],
        )
        == []
    )
    assert run_status(engine, cmd["runId"]) == "waiting"


def test_create_task_is_a_draft_with_rendered_args(engine, executor, practice, patient):
    cmd = command(
        practice["id"],
        patient,
        [
            {
                "type": "create_task",
                "args": {
                    "title": "Call {patient.firstName}",
                    "description": "event {eventName}",
                    "dueInSeconds": 3600,
                    "patientId": "{patientId}",
                    "assignee": "front-desk",
                },
            },
            {"type": "create_task", "args": {"title": "No patient"}},
        ],
    )
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "succeeded", outcome.error
    tasks = rows(
        engine,
        "SELECT title, description, status, assignee, patient_id::text AS patient, due_at, created_at, "
        "practice_id::text AS pr FROM tasks WHERE run_id = :r ORDER BY created_at",
        r=cmd["runId"],
    )
    assert [(t.title, t.description, t.status, t.assignee, t.patient, t.pr) for t in tasks] == [
        ("Call Ann", "event crm/patient.created", "draft", "front-desk", patient["id"], practice["id"]),
        ("No patient", None, "draft", None, None, practice["id"]),
    ]
    assert 3500 < (tasks[0].due_at - datetime.now(UTC)).total_seconds() <= 3600
    # From the database's clock, as the row's created_at (stamped when the batch inserts it, just after).
    assert 3599 < (tasks[0].due_at - tasks[0].created_at).total_seconds() <= 3600
    assert tasks[1].due_at is None


@pytest.mark.parametrize(
    ("action", "channel", "to"),
    [
        (
            {
                "type": "draft_email",
                "args": {"patientId": "{patientId}", "subject": "Hi {patient.firstName}", "body": "See you"},
            },
            "email",
            "ann@example.com",
        ),
        (
            {
                "type": "draft_sms",
                "args": {"patientId": "{patientId}", "body": "See you {patient.firstName}"},
            },
            "sms",
            "+15550100",
        ),
    ],
)
def test_drafts_go_to_the_patient_and_emit_message_drafted(
    engine, executor, practice, patient, action, channel, to
):
    cmd = command(practice["id"], patient, [action], depth=1)
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "succeeded", outcome.error
    (draft,) = rows(
        engine,
        "SELECT id::text, channel, to_address, subject, body, status, practice_id::text AS pr "
        "FROM message_drafts WHERE run_id = :r",
        r=cmd["runId"],
    )
    assert (draft.channel, draft.to_address, draft.status, draft.pr) == (channel, to, "draft", practice["id"])
    assert draft.subject == ("Hi Ann" if channel == "email" else None)
    (event,) = rows(engine, "SELECT payload FROM outbox_events WHERE causation_id = :r", r=cmd["runId"])
    payload = event.payload
    assert payload["name"] == "crm/message.drafted"
    assert (payload["entityType"], payload["entityId"]) == ("message", draft.id)
    assert (payload["depth"], payload["correlationId"]) == (2, cmd["correlationId"])
    assert payload["data"]["message"]["channel"] == channel
    assert payload["data"]["patient"]["id"] == patient["id"]
    (log,) = rows(engine, "SELECT args, result FROM automation_action_logs WHERE run_id = :r", r=cmd["runId"])
    assert log.args["body"] == {"redacted": True, "chars": len(draft.body)}  # PHI-minimal log
    assert log.result == {"draftId": draft.id, "channel": channel}


def test_a_draft_email_without_an_address_fails_clearly(engine, executor, practice):
    with engine.begin() as conn:
        bare = create_patient(conn, practice["id"], {"firstName": "Cy", "lastName": "Oh"})
    action = {"type": "draft_email", "args": {"patientId": "{patientId}", "subject": "s", "body": "b"}}
    cmd = command(practice["id"], bare, [action])
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "failed" and f"patient {bare['id']} has no email address" in outcome.error
    assert rows(engine, "SELECT 1 FROM message_drafts WHERE run_id = :r", r=cmd["runId"]) == []
    assert rows(engine, "SELECT 1 FROM outbox_events WHERE causation_id = :r", r=cmd["runId"]) == []


@pytest.mark.parametrize(
    "action",
    [
        {"type": "create_note", "args": {"patientId": "{patientId}", "body": "x"}},
        {"type": "create_task", "args": {"title": "x", "patientId": "{patientId}"}},
        {"type": "draft_email", "args": {"patientId": "{patientId}", "subject": "s", "body": "b"}},
        {"type": "draft_sms", "args": {"patientId": "{patientId}", "body": "b"}},
        {"type": "update_patient_fields", "args": {"patientId": "{patientId}", "fields": {"status": "x"}}},
    ],
    ids=lambda a: a["type"],
)
def test_no_action_touches_another_practices_patient(engine, executor, practice, patient, action):
    with engine.begin() as conn:
        other = str(
            conn.execute(text("INSERT INTO practices (name) VALUES ('other') RETURNING id")).scalar_one()
        )
    cmd = command(other, patient, [action])  # a run of practice `other` naming our patient
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "failed" and "not found in this practice" in outcome.error
    for table in ("notes", "tasks", "message_drafts"):
        assert rows(engine, f"SELECT 1 FROM {table} WHERE run_id = :r", r=cmd["runId"]) == []
    assert rows(engine, "SELECT 1 FROM outbox_events WHERE causation_id = :r", r=cmd["runId"]) == []
    (row,) = rows(engine, "SELECT status FROM patients WHERE id = :p", p=patient["id"])
    assert row.status == "active"


def test_the_allowlist_comes_from_settings(engine, practice, patient, monkeypatch):
    monkeypatch.setenv("CRMFLOW_PATIENT_FIELD_ALLOWLIST", '["preferredLanguage"]')
    executor = Executor(build_handlers(Settings().patient_field_allowlist))

    def update(fields):
        action = {"type": "update_patient_fields", "args": {"patientId": "{patientId}", "fields": fields}}
        (outcome,) = execute(engine, executor, [command(practice["id"], patient, [action])])
        return outcome

    refused = update({"preferredLanguage": "fr", "status": "inactive"})  # status: default, not here
    assert refused.status == "failed"
    assert "field 'status' may not be updated (allowed: preferredLanguage)" in refused.error
    (row,) = rows(engine, "SELECT status, preferred_language FROM patients WHERE id = :p", p=patient["id"])
    assert tuple(row) == ("active", None)  # the allowed field did not change either
    assert update({"preferredLanguage": "fr"}).status == "succeeded"
    (row,) = rows(engine, "SELECT preferred_language FROM patients WHERE id = :p", p=patient["id"])
    assert row.preferred_language == "fr"


def test_an_ill_typed_field_value_fails_and_changes_nothing(engine, executor, practice, patient):
    action = {
        "type": "update_patient_fields",
        "args": {"patientId": "{patientId}", "fields": {"preferredLanguage": "de", "tags": "not-a-list"}},
    }
    cmd = command(practice["id"], patient, [action])
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "failed" and "invalid fields" in outcome.error and "tags" in outcome.error
    (row,) = rows(engine, "SELECT preferred_language, tags FROM patients WHERE id = :p", p=patient["id"])
    assert tuple(row) == (None, [])
    assert rows(engine, "SELECT 1 FROM outbox_events WHERE causation_id = :r", r=cmd["runId"]) == []


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (note("Hi {patient.nickname}"), "patient.nickname"),
        (note("Hi {patient.firstName"), "unclosed '{'"),
        ({"type": "send_fax", "args": {}}, "unknown action type 'send_fax'"),
        ({"type": "create_note", "args": {"patientId": "{patientId}"}}, "invalid args: body"),
        (delay(-1), "invalid args: seconds"),
    ],
    ids=["placeholder", "template-syntax", "unknown-type", "missing-arg", "bad-delay"],
)
def test_permanent_errors_name_their_cause(engine, executor, practice, patient, action, message):
    cmd = command(practice["id"], patient, [action, note("later")])
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "failed" and message in outcome.error, outcome.error
    assert note_bodies(engine, cmd["runId"]) == []
    (run,) = rows(
        engine, "SELECT status, error, finished_at FROM automation_runs WHERE id = :r", r=cmd["runId"]
    )
    assert run.status == "failed" and message in run.error and run.finished_at is not None


def test_the_update_and_its_event_commit_or_roll_back_together(engine, executor, practice, patient):
    action = {
        "type": "update_patient_fields",
        "args": {"patientId": "{patientId}", "fields": {"status": "vip"}},
    }
    cmd = command(practice["id"], patient, [action])
    with engine.connect() as conn:
        trans = conn.begin()
        (outcome,) = executor.execute(conn, [cmd])
        assert outcome.status == "succeeded"
        trans.rollback()  # e.g. the runner dies before its commit
    assert rows(engine, "SELECT 1 FROM outbox_events WHERE causation_id = :r", r=cmd["runId"]) == []
    assert rows(engine, "SELECT status FROM patients WHERE id = :p", p=patient["id"])[0].status == "active"
    execute(engine, executor, [cmd])  # the redelivery does it, once
    assert len(rows(engine, "SELECT 1 FROM outbox_events WHERE causation_id = :r", r=cmd["runId"])) == 1
    assert rows(engine, "SELECT status FROM patients WHERE id = :p", p=patient["id"])[0].status == "vip"
