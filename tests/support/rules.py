"""Creating rules through the API and waiting until the evaluator holds them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.processes import Service, wait_for


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
