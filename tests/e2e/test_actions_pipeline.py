"""Actions through the whole pipeline: API write -> outbox -> Debezium -> evaluator -> runner."""

from __future__ import annotations

import json
import time
from functools import partial

import pytest
from confluent_kafka import Message

from crmflow import topics
from tests.support.kafka import TopicTail, headers_of, value_of
from tests.support.processes import wait_for
from tests.support.rules import create_rule
from tests.support.runner import note, note_bodies, rows, run_status

pytestmark = pytest.mark.e2e


def the_run(engine, rule_id: str, patient_id: str, status: str | set[str], timeout: float = 20) -> str:
    wanted = {status} if isinstance(status, str) else status

    def found() -> str | None:
        got = rows(
            engine,
            "SELECT id::text, status FROM automation_runs WHERE rule_id = :r AND patient_id = :p",
            r=rule_id,
            p=patient_id,
        )
        return got[0].id if got and got[0].status in wanted else None

    return wait_for(found, timeout, 0.1, f"a run of {rule_id} in {wanted}")


def caused_by(run_id: str, msg: Message) -> bool:
    return headers_of(msg).get("causationId") == run_id


def test_task_drafts_and_update_with_their_events(api, services, engine, settings, practice):
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent="crm/patient.created",
        actionsJson=[
            {
                "type": "create_task",
                "args": {"title": "Call {patient.firstName}", "patientId": "{patientId}"},
            },
            {
                "type": "draft_email",
                "args": {"patientId": "{patientId}", "subject": "Welcome", "body": "Hi {patient.firstName}"},
            },
            {"type": "draft_sms", "args": {"patientId": "{patientId}", "body": "Hi {patient.firstName}"}},
            {
                "type": "update_patient_fields",
                "args": {"patientId": "{patientId}", "fields": {"status": "onboarding", "tags": ["new"]}},
            },
        ],
    )
    messages = TopicTail(settings.kafka_bootstrap, topics.MESSAGE)
    patient_events = TopicTail(settings.kafka_bootstrap, topics.PATIENT)
    try:
        r = api.post(
            "/api/patients",
            json={"firstName": "Dee", "lastName": "Pipe", "email": "dee@example.com", "phone": "+15550199"},
        )
        assert r.status_code == 201, r.text
        patient = r.json()
        run_id = the_run(engine, rule["id"], patient["id"], "succeeded")

        tasks = api.get(f"/api/patients/{patient['id']}/tasks").json()
        assert [(t["title"], t["status"]) for t in tasks] == [("Call Dee", "draft")]
        drafts = api.get(f"/api/patients/{patient['id']}/drafts").json()
        assert sorted((d["channel"], d["to"]) for d in drafts) == [
            ("email", "dee@example.com"),
            ("sms", "+15550199"),
        ]
        after = api.get(f"/api/patients/{patient['id']}").json()
        assert (after["status"], after["tags"]) == ("onboarding", ["new"])

        caused = partial(caused_by, run_id)
        drafted = [json.loads(value_of(messages.find(caused))) for _ in range(2)]
        assert {d["name"] for d in drafted} == {"crm/message.drafted"}
        assert {d["data"]["message"]["channel"] for d in drafted} == {"email", "sms"}
        assert {d["depth"] for d in drafted} == {1}
        updated = json.loads(value_of(patient_events.find(caused, timeout=15)))
        assert updated["name"] == "crm/patient.updated" and updated["depth"] == 1
        assert updated["data"]["changes"] == {
            "status": {"from": "active", "to": "onboarding"},
            "tags": {"from": [], "to": ["new"]},
        }
    finally:
        messages.close()
        patient_events.close()


def test_a_delay_waits_then_the_run_succeeds(api, services, engine, practice):
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent="crm/patient.created",
        actionsJson=[note("before"), {"type": "delay_seconds", "args": {"seconds": 2}}, note("after")],
    )
    patient = api.post("/api/patients", json={"firstName": "Eve", "lastName": "Wait"}).json()
    run_id = the_run(engine, rule["id"], patient["id"], "waiting")
    assert note_bodies(engine, run_id) == ["before"]
    the_run(engine, rule["id"], patient["id"], "succeeded")
    assert note_bodies(engine, run_id) == ["before", "after"]


def test_a_delay_due_while_the_runner_was_down_fires_once_right_after_restart(api, services, engine):
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent="crm/patient.created",
        actionsJson=[{"type": "delay_seconds", "args": {"seconds": 2}}, note("after the outage")],
    )
    patient = api.post("/api/patients", json={"firstName": "Fay", "lastName": "Down"}).json()
    run_id = the_run(engine, rule["id"], patient["id"], "waiting")
    runner = services["runner"]
    runner.kill()
    time.sleep(3)  # due while no runner runs
    assert run_status(engine, run_id) == "waiting"
    restarted = time.monotonic()
    runner.start()
    the_run(engine, rule["id"], patient["id"], "succeeded", timeout=15)
    assert time.monotonic() - restarted < 10
    assert note_bodies(engine, run_id) == ["after the outage"]
