"""The committed JSON Schemas are exactly what the code generates (CI fails on drift)."""

from __future__ import annotations

import json

import jsonschema

from crmflow.cli import main
from crmflow.schemas import DEFAULT_DIR, GENERATORS, drift, render, write
from crmflow.triggers import TRIGGERS


def test_committed_schemas_match_the_code():
    assert drift() == [], "run: crmflow schemas write"
    assert main(["schemas", "check"]) == 0


def test_drift_is_detected(tmp_path):
    write(tmp_path)
    assert drift(tmp_path) == []
    (tmp_path / "rule.schema.json").write_text("{}\n")
    (tmp_path / "event-envelope.schema.json").unlink()
    assert sorted(drift(tmp_path)) == ["event-envelope.schema.json", "rule.schema.json"]
    assert main(["schemas", "check", "--dir", str(tmp_path)]) == 1


def test_schemas_are_valid_and_accept_real_messages():
    for name in GENERATORS:
        schema = json.loads((DEFAULT_DIR / name).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
    envelope = json.loads(render("event-envelope.schema.json"))
    event = {
        "id": "0b8e6a52-7c1d-4f3a-9e2b-5d4c3b2a1f01",
        "practiceId": "6f1c2b7e-3a4d-4e5f-9a0b-1c2d3e4f5a6b",
        "name": "crm/patient.created",
        "entityType": "patient",
        "entityId": "0b8e6a52-7c1d-4f3a-9e2b-5d4c3b2a1f00",
        "occurredAt": "2025-03-01T09:15:00Z",
        "data": TRIGGERS["crm/patient.created"].sample_data(),
        "correlationId": "0b8e6a52-7c1d-4f3a-9e2b-5d4c3b2a1f01",
        "depth": 0,
    }
    jsonschema.validate(event, envelope)
    rule = json.loads(render("rule-create.schema.json"))
    body = {
        "name": "Welcome",
        "triggerEvent": "crm/patient.created",
        "conditionsJson": {"field": "patient.email", "operator": "exists"},
        "actionsJson": [{"type": "create_note", "args": {"patientId": "{patientId}", "body": "Hi"}}],
    }
    jsonschema.validate(body, rule)
    bad = {**body, "actionsJson": [{"type": "send_fax", "args": {}}]}
    assert not jsonschema.Draft202012Validator(rule).is_valid(bad)
    command = json.loads(render("action-command.schema.json"))
    marker = {
        "kind": "event",
        "eventId": event["id"],
        "practiceId": event["practiceId"],
        "eventName": event["name"],
        "runsExpected": 1,
        "source": {"topic": "crm.patient", "partition": 0, "offset": 7, "timestamp": 1.5},
    }
    jsonschema.validate(marker, command)
    assert not jsonschema.Draft202012Validator(command).is_valid({**marker, "kind": "other"})
