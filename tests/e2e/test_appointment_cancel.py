"""The CRM side of cancel-on (SPEC section 8): cancelling an appointment through the API emits
crm/appointment.updated with changes.status, which rules can match."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.support.api import book
from tests.support.pipeline import evaluated, runs_of
from tests.support.processes import Service
from tests.support.rules import create_rule

pytestmark = pytest.mark.e2e


def test_cancelling_an_appointment_emits_its_status_change(
    api: httpx.Client, services: dict[str, Service], engine: Engine, practice: dict[str, str]
) -> None:
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent="crm/appointment.updated",
        conditionsJson={"field": "status", "operator": "changed_to", "value": "cancelled"},
        actionsJson=[{"type": "create_note", "args": {"patientId": "{patientId}", "body": "cancelled"}}],
    )
    patient, appointment = book(api, "Cal", "Cellation")

    response = api.patch(f"/api/appointments/{appointment['id']}", json={"status": "cancelled"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT practice_id::text, aggregate_type, payload FROM outbox_events "
                "WHERE aggregate_id = :id AND event_name = 'crm/appointment.updated'"
            ),
            {"id": appointment["id"]},
        ).all()
    [(practice_id, aggregate, payload)] = rows
    data: dict[str, Any] = payload["data"]
    assert (practice_id, aggregate, payload["entityId"]) == (practice["id"], "appointment", appointment["id"])
    assert data["changes"] == {"status": {"from": "scheduled", "to": "cancelled"}}
    assert data["appointment"]["status"] == "cancelled" and data["patient"]["id"] == patient["id"]

    # The evaluator sees the change: a rule on "status changed to cancelled" runs.
    [event] = evaluated(engine, appointment["id"], "crm/appointment.updated")
    [run] = [r for r in runs_of(engine, event.id) if r.rule_id == rule["id"]]
    assert run.status == "succeeded"

    # Cancelling again changes nothing: no second event.
    again = api.patch(f"/api/appointments/{appointment['id']}", json={"status": "cancelled"})
    assert again.status_code == 200
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM outbox_events WHERE aggregate_id = :id AND event_name = :name"),
            {"id": appointment["id"], "name": "crm/appointment.updated"},
        ).scalar_one()
    assert count == 1
