"""The runner's executor against real PostgreSQL: exactly once, failure policy, delays."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import text

from crmflow.commands import run_id_for
from crmflow.crm.entities import create_patient
from crmflow_runner.executor import Executor
from crmflow_runner.handlers import build_handlers
from crmflow_runner.scheduler import Scheduler

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
            {"firstName": "Ann", "lastName": "Lee", "email": "ann@example.com", "phone": None},
        )


def command(practice_id, patient, actions, rule_id=None, depth=0):
    event_id = str(uuid.uuid4())
    rule_id = rule_id or str(uuid.uuid4())
    event = {
        "id": event_id,
        "practiceId": practice_id,
        "name": "crm/patient.created",
        "entityType": "patient",
        "entityId": patient["id"],
        "data": {"patient": patient},
        "correlationId": event_id,
        "causationId": None,
        "depth": depth,
        "occurredAt": "2026-11-25T10:00:00+00:00",
    }
    return {
        "kind": "run",
        "runId": run_id_for(event_id, rule_id),
        "eventId": event_id,
        "practiceId": practice_id,
        "ruleId": rule_id,
        "ruleVersion": 1,
        "ruleName": "t",
        "eventName": event["name"],
        "patientId": patient["id"],
        "status": "matched",
        "trace": {},
        "error": None,
        "actions": actions,
        "event": event,
        "correlationId": event_id,
        "causationId": event_id,
        "depth": depth,
    }


def note(body="Hello {patient.firstName}"):
    return {"type": "create_note", "args": {"patientId": "{patientId}", "body": body}}


def rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


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


def test_a_permanent_failure_fails_the_run_and_skips_later_actions(engine, executor, practice, patient):
    cmd = command(
        practice["id"],
        patient,
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


def test_a_delay_waits_durably_then_resumes_once(engine, executor, practice, patient):
    cmd = command(
        practice["id"],
        patient,
        [note("before"), {"type": "delay_seconds", "args": {"seconds": 1}}, note("after")],
    )
    (outcome,) = execute(engine, executor, [cmd])
    assert outcome.status == "waiting"
    assert [r.body for r in rows(engine, "SELECT body FROM notes WHERE run_id = :r", r=cmd["runId"])] == [
        "before"
    ]
    scheduler = Scheduler(engine, executor, 0.1, threading.Event())
    while scheduler.tick():  # resumes of other tests may be due; ours is not yet
        pass
    (run,) = rows(engine, "SELECT status FROM automation_runs WHERE id = :r", r=cmd["runId"])
    assert run.status == "waiting"
    time.sleep(1.2)
    while scheduler.tick():
        pass
    assert execute(engine, executor, [cmd]) == []  # a redelivered command does not restart it
    assert sorted(
        r.body for r in rows(engine, "SELECT body FROM notes WHERE run_id = :r", r=cmd["runId"])
    ) == ["after", "before"]
    (run,) = rows(engine, "SELECT status FROM automation_runs WHERE id = :r", r=cmd["runId"])
    assert run.status == "succeeded"
