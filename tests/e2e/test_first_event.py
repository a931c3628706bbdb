"""One event end to end: POST a patient -> outbox -> Debezium -> Kafka -> evaluator -> runner."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import text

from tests.support.kafka import headers_of, key_of
from tests.support.processes import wait_for
from tests.support.rules import note_rule

pytestmark = pytest.mark.e2e


def test_patient_created_makes_one_note_through_the_real_pipeline(api, services, engine, settings, practice):
    rule = note_rule(api, services["evaluator"], body="Welcome {patient.firstName}!")

    started = time.monotonic()
    response = api.post(
        "/api/patients", json={"firstName": "Grace", "lastName": "Hopper", "email": "grace@example.com"}
    )
    assert response.status_code == 201, response.text
    patient = response.json()
    assert {"id", "practiceId", "createdAt", "updatedAt"} <= patient.keys()
    assert patient["practiceId"] == practice["id"]

    notes = wait_for(
        lambda: api.get(f"/api/patients/{patient['id']}/notes").json(), 10, what="the rule's note"
    )
    elapsed = time.monotonic() - started
    assert elapsed < 10
    assert [n["body"] for n in notes] == ["Welcome Grace!"]

    with engine.connect() as conn:
        event = conn.execute(
            text(
                "SELECT id, kafka_topic, kafka_partition, kafka_offset, status FROM outbox_events "
                "WHERE aggregate_id = :pid AND event_name = 'crm/patient.created'"
            ),
            {"pid": patient["id"]},
        ).one()
        runs = conn.execute(
            text("SELECT id, status, rule_id, rule_version FROM automation_runs WHERE event_id = :e"),
            {"e": event.id},
        ).all()
        logs = conn.execute(
            text(
                "SELECT l.status, l.action_type FROM automation_action_logs l "
                "JOIN automation_runs r ON r.id = l.run_id WHERE r.event_id = :e"
            ),
            {"e": event.id},
        ).all()
    assert event.status == "published"
    assert [(r.status, str(r.rule_id), r.rule_version) for r in runs] == [
        ("succeeded", rule["id"], rule["version"])
    ]
    assert [(log.status, log.action_type) for log in logs] == [("succeeded", "create_note")]

    # The record Debezium wrote: key = patient id, headers id / practiceId / eventName.
    assert event.kafka_topic == "crm.patient"
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": "e2e-inspect",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(event.kafka_topic, event.kafka_partition, event.kafka_offset)])
        record = wait_for(lambda: consumer.poll(1.0), 10, what="the CDC record")
    finally:
        consumer.close()
    assert record.error() is None
    assert key_of(record).decode() == patient["id"]
    headers = headers_of(record)
    assert headers["id"] == str(event.id)
    assert headers["practiceId"] == practice["id"]
    assert headers["eventName"] == "crm/patient.created"
