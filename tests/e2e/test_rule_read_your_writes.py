"""A rule saved before an event is written applies to that event: no waiting in between.

Rules reach the evaluator on crm.rule and events on crm.patient, two topics read by two
consumers, and order across topics is not commit order. Each round saves a burst of changes to
another rule (a trigger the event does not fire) and the new rule in one transaction, then the
patient, back to back through the library (what the API does, without HTTP in between): the new
rule's record queues in Connect behind the burst while the event's goes out, so the event reaches
the evaluator first. It must wait for the rule changes numbered before it (its rulesSeq header);
without that wait (CRMFLOW_RULES_CATCH_UP_SECONDS=0) this test fails within a few rounds, and so
did a barrier that only waited for the rule records already on the topic.
"""

from __future__ import annotations

import pytest

from crmflow.crm.entities import create_patient
from crmflow.rules_repo import create_rule, update_rule
from tests.support.pipeline import evaluated, runs_of

pytestmark = pytest.mark.e2e
ROUNDS = 10
BURST = 200  # crm.rule records ahead of the new rule's, per round

NOTE = [{"type": "create_note", "args": {"patientId": "{patientId}", "body": "saw the rule"}}]


def test_an_event_right_after_a_rule_change_sees_the_change(services, engine, practice):
    with engine.begin() as conn:
        busy = create_rule(
            conn,
            practice["id"],
            {"name": "busy", "enabled": True, "triggerEvent": "crm/appointment.updated", "actionsJson": NOTE},
        )
    for round_ in range(ROUNDS):
        with engine.begin() as conn:
            for i in range(BURST):
                update_rule(conn, practice["id"], busy["id"], {"name": f"busy {round_}.{i}"})
            rule = create_rule(
                conn,
                practice["id"],
                {
                    "name": f"immediate {round_}",
                    "enabled": True,
                    "triggerEvent": "crm/patient.created",
                    "actionsJson": NOTE,
                },
            )
        with engine.begin() as conn:
            patient = create_patient(conn, practice["id"], {"firstName": "Rye", "lastName": "W"})
        (event,) = evaluated(engine, patient["id"], "crm/patient.created")
        assert event.runs_expected == round_ + 1, f"round {round_}: the evaluator missed the new rule"
        assert rule["id"] in {r.rule_id for r in runs_of(engine, event.id)}
