"""Rules for tests: created through the API (waiting until the evaluator holds them), or as the
records crm.rule carries."""

from __future__ import annotations

from typing import Any

import httpx

from crmflow.rule_record import Rule
from tests.support.processes import Service, wait_for

NOTE_ACTION: dict[str, Any] = {"type": "create_note", "args": {"patientId": "{patientId}", "body": "hi"}}
WAIT_FOR_CONFIRMATION: dict[str, Any] = {
    "type": "wait_for_event",
    "args": {
        "eventName": "crm/appointment.updated",
        "match": "appointment.id",
        "conditionsJson": {"field": "appointment.status", "operator": "equals", "value": "confirmed"},
        "timeoutSeconds": 172800,
        "onTimeout": "continue",
    },
}
"""A wait_for_event action awaiting the confirmation of the triggering appointment (two days)."""


def rule_record(**fields: Any) -> dict[str, Any]:
    """A crm.rule record's value as crmflow.rules_repo publishes it: ``fields`` over defaults, held
    to the one definition of the record (crmflow.rule_record.Rule)."""
    saved_at = "2026-11-25T10:00:00+00:00"
    defaults: dict[str, Any] = {
        "id": "r1",
        "practiceId": "p1",
        "name": "test rule",
        "enabled": True,
        "triggerEvent": "crm/patient.created",
        "conditionsJson": None,
        "actionsJson": [NOTE_ACTION],
        "version": 1,
        "createdAt": saved_at,
        "updatedAt": saved_at,
    }
    return Rule.model_validate({**defaults, **fields}).model_dump()


def evaluator_holds(evaluator: Service, rule_id: str, version: int) -> bool:
    try:
        r = httpx.get(f"{evaluator.url}/rules/{rule_id}", timeout=1)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.json()["version"] >= version


def create_rule(api: httpx.Client, evaluator: Service, **rule: Any) -> dict[str, Any]:
    body = {"name": "test rule", "enabled": True, **rule}
    response = api.post("/api/automations", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    wait_for(
        lambda: evaluator_holds(evaluator, created["id"], created["version"]),
        10,
        what=f"the evaluator to hold rule {created['id']}",
    )
    return created


def note_rule(
    api: httpx.Client, evaluator: Service, body: str = "Welcome {patient.firstName}", **extra: Any
) -> dict[str, Any]:
    return create_rule(
        api,
        evaluator,
        triggerEvent="crm/patient.created",
        actionsJson=[{"type": "create_note", "args": {"patientId": "{patientId}", "body": body}}],
        **extra,
    )
