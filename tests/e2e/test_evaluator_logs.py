"""The three services log JSON lines only, at CRMFLOW_LOG_LEVEL, with ids and never patient data.

The evaluator is restarted at DEBUG for this test (its per-event record carries the correlation
and causation ids); a patient with recognisable name, email, phone and message body then flows
through a draft_email rule, and no log line of any service may contain those values.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.pipeline import evaluated
from tests.support.processes import lines_since
from tests.support.rules import create_rule

pytestmark = pytest.mark.e2e


def test_service_logs_are_json_with_ids_and_no_patient_data(api, services, engine):
    evaluator = services["evaluator"]
    offsets = {name: s.log_path.stat().st_size for name, s in services.items()}
    with evaluator.restarted_with(CRMFLOW_LOG_LEVEL="DEBUG"):
        marker = uuid.uuid4().hex[:10]
        phi = {
            "firstName": f"Zebulon{marker}",
            "lastName": f"Quixote{marker}",
            "email": f"zq{marker}@example.com",
            "phone": f"+1 555 {int(marker[:6], 16) % 10_000_000:07d}",
        }
        body = f"Your results are ready {marker}"
        create_rule(
            api,
            evaluator,
            triggerEvent="crm/patient.created",
            actionsJson=[
                {
                    "type": "draft_email",
                    "args": {"patientId": "{patientId}", "subject": "Hi {patient.firstName}", "body": body},
                }
            ],
        )
        patient = api.post("/api/patients", json=phi).json()
        (created,) = evaluated(engine, patient["id"], "crm/patient.created")
        (draft,) = api.get(f"/api/patients/{patient['id']}/drafts").json()
        (drafted,) = evaluated(engine, draft["id"], "crm/message.drafted")

    lines = {name: lines_since(s.log_path, offsets[name]) for name, s in services.items()}
    for name, service_lines in lines.items():
        for line in service_lines:
            entry = json.loads(line)  # every line is one JSON object
            assert {"ts", "level", "service", "logger", "msg"} <= entry.keys(), line
            for value in [*phi.values(), body, marker]:
                assert value not in line, f"{name} logged patient data: {line}"
    entries = [json.loads(line) for line in lines["evaluator"]]
    assert {e["level"] for e in entries} >= {"DEBUG", "INFO"}
    per_event = {e["eventId"]: e for e in entries if e["msg"] == "event evaluated"}
    assert per_event[created.id]["correlationId"] == created.correlation_id
    assert per_event[drafted.id]["correlationId"] == created.correlation_id
    assert per_event[drafted.id]["causationId"] == drafted.causation_id
    assert per_event[drafted.id]["depth"] == 1
    print({name: len(service_lines) for name, service_lines in lines.items()}, "new log lines checked")
