"""A rule saved before an event is written applies to that event: no waiting in between.

Rules reach the evaluator on crm.rule and events on crm.patient, two topics read by two
consumers; the evaluator's catch-up barrier makes the order of the commits the order that counts.
The writes go back to back through the library (what the API does, without HTTP in between), so
the two records reach Kafka in the same Debezium batch.
"""

from __future__ import annotations

import pytest

from crmflow.crm.entities import create_patient
from crmflow.rules_repo import create_rule
from tests.support.pipeline import evaluated, runs_of

pytestmark = pytest.mark.e2e
ROUNDS = 20


def test_an_event_right_after_a_rule_change_sees_the_change(services, engine, practice):
    for round_ in range(ROUNDS):
        with engine.begin() as conn:
            rule = create_rule(
                conn,
                practice["id"],
                {
                    "name": f"immediate {round_}",
                    "enabled": True,
                    "triggerEvent": "crm/patient.created",
                    "actionsJson": [
                        {"type": "create_note", "args": {"patientId": "{patientId}", "body": "saw the rule"}}
                    ],
                },
            )
        with engine.begin() as conn:
            patient = create_patient(conn, practice["id"], {"firstName": "Rye", "lastName": "W"})
        (event,) = evaluated(engine, patient["id"], "crm/patient.created")
        assert event.runs_expected == round_ + 1, f"round {round_}: the evaluator missed the new rule"
        assert rule["id"] in {r.rule_id for r in runs_of(engine, event.id)}
