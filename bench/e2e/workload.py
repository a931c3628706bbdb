"""The benchmark's workload: a practice with 1,000 patients and one rule (2 conditions, 1 note).

Every step runs in a practice of its own, so a step's figures are one query by practice id and
steps never share rows. Patients are inserted directly (set-up, not measured: no events); the
rule goes through ``crmflow.rules_repo`` like the API's, so it reaches the evaluator the
production way (outbox -> Debezium -> crm.rule) and the step waits until the evaluator holds it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine, insert

from crmflow.apikeys import create_practice
from crmflow.db.tables import patients
from crmflow.rules_repo import create_rule

PATIENTS = 1000
TRIGGER = "crm/patient.updated"
# Both conditions hold for every event the load generator writes, so each event makes one
# matched run with one create_note: the full path, every time.
CONDITIONS = {
    "operator": "and",
    "conditions": [
        {"field": "patient.status", "operator": "equals", "value": "active"},
        {"field": "changes.tags", "operator": "exists"},
    ],
}
ACTIONS = [
    {
        "type": "create_note",
        "args": {"patientId": "{patientId}", "body": "Tags of {patient.firstName} changed ({eventId})"},
    }
]


@dataclass(frozen=True)
class Tenant:
    practice_id: str
    rule_id: str
    rule_version: int


def create_tenant(engine: Engine, name: str, patients_count: int = PATIENTS) -> Tenant:
    with engine.begin() as conn:
        practice_id = create_practice(conn, name)
        conn.execute(
            insert(patients),
            [
                {
                    "practice_id": practice_id,
                    "first_name": f"Bench{n}",
                    "last_name": "Patient",
                    "status": "active",
                }
                for n in range(patients_count)
            ],
        )
        rule = create_rule(
            conn,
            practice_id,
            {
                "name": "bench: note on tag change",
                "enabled": True,
                "triggerEvent": TRIGGER,
                "conditionsJson": CONDITIONS,
                "actionsJson": ACTIONS,
            },
        )
    return Tenant(practice_id, rule["id"], rule["version"])


def wait_rule_held(evaluator_url: str, tenant: Tenant, timeout: float = 60.0) -> None:
    """Until the evaluator serves the rule (GET /rules/{id}): events before that would skip it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{evaluator_url}/rules/{tenant.rule_id}", timeout=2)
            if r.status_code == 200 and r.json()["version"] >= tenant.rule_version:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the evaluator did not load rule {tenant.rule_id} within {timeout:.0f} s")
