"""Flow control through the real stack (SPEC section 13): one run per appointment, pause with
skip and hold, bulk retry and cancel, and the 422s of their fields."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.support.api import book
from tests.support.pipeline import evaluated
from tests.support.processes import Service, wait_for
from tests.support.rules import create_rule

pytestmark = pytest.mark.e2e
UPDATED = "crm/appointment.updated"


def note(body: str) -> dict[str, Any]:
    return {"type": "create_note", "args": {"patientId": "{patientId}", "body": body}}


def edit(api: httpx.Client, appointment: dict[str, Any], provider: str) -> None:
    response = api.patch(f"/api/appointments/{appointment['id']}", json={"provider": provider})
    assert response.status_code == 200, response.text


def rule_runs(engine: Engine, rule_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT r.id::text, r.status, r.error FROM automation_runs r "
                    "JOIN outbox_events o ON o.id = r.event_id WHERE r.rule_id = :r ORDER BY o.created_at"
                ),
                {"r": rule_id},
            ).all()
        )


def notes(api: httpx.Client, patient_id: str) -> list[str]:
    found = api.get(f"/api/patients/{patient_id}/notes").json()
    return [n["body"] for n in sorted(found, key=lambda n: n["createdAt"])]


@pytest.mark.parametrize("reenroll", ["never", "after_finish"])
def test_three_edits_of_one_appointment_start_one_run(
    api: httpx.Client, services: dict[str, Service], engine: Engine, reenroll: str
) -> None:
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent=UPDATED,
        actionsJson=[{"type": "delay_seconds", "args": {"seconds": 3600}}, note("later")],
        enrollment={"key": "appointment.id", "reenroll": reenroll},
    )
    assert rule["enrollment"] == {"key": "appointment.id", "reenroll": reenroll}
    _, appointment = book(api, "Flo", "Control")
    for provider in ("Dr A", "Dr B", "Dr C"):
        edit(api, appointment, provider)
    evaluated(engine, appointment["id"], UPDATED, count=3)
    runs = rule_runs(engine, rule["id"])
    assert [(r.status, r.error) for r in runs] == [
        ("waiting", None),
        ("skipped", "already_enrolled"),
        ("skipped", "already_enrolled"),
    ]


def test_a_rule_paused_with_skip_records_its_runs_skipped(
    api: httpx.Client, services: dict[str, Service], engine: Engine
) -> None:
    rule = create_rule(api, services["evaluator"], triggerEvent=UPDATED, actionsJson=[note("edited")])
    paused = api.patch(f"/api/automations/{rule['id']}", json={"paused": "skip"})
    assert paused.status_code == 200 and paused.json()["paused"] == "skip"
    patient, appointment = book(api, "Flo", "Control")
    edit(api, appointment, "Dr S")
    evaluated(engine, appointment["id"], UPDATED)
    assert [(r.status, r.error) for r in rule_runs(engine, rule["id"])] == [("skipped", "paused")]
    assert notes(api, patient["id"]) == []


def test_held_runs_execute_in_event_order_once_resumed(
    api: httpx.Client, services: dict[str, Service], engine: Engine
) -> None:
    rule = create_rule(
        api, services["evaluator"], triggerEvent=UPDATED, actionsJson=[note("by {appointment.provider}")]
    )
    assert api.patch(f"/api/automations/{rule['id']}", json={"paused": "hold"}).status_code == 200
    patient, appointment = book(api, "Flo", "Control")
    for provider in ("Dr 1", "Dr 2", "Dr 3"):
        edit(api, appointment, provider)
    evaluated(engine, appointment["id"], UPDATED, count=3)
    assert [r.status for r in rule_runs(engine, rule["id"])] == ["held"] * 3
    held = api.get("/api/runs", params={"ruleId": rule["id"], "status": "held"}).json()
    assert held["total"] == 3
    assert notes(api, patient["id"]) == []

    resumed = api.patch(f"/api/automations/{rule['id']}", json={"paused": None})
    assert resumed.status_code == 200 and resumed.json()["paused"] is None
    wait_for(
        lambda: [r.status for r in rule_runs(engine, rule["id"])] == ["succeeded"] * 3, 20, what="held runs"
    )
    assert notes(api, patient["id"]) == ["by Dr 1", "by Dr 2", "by Dr 3"]


def bulk(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/runs/bulk", json=body)
    assert response.status_code == 202, response.text
    operation = response.json()
    return wait_for(
        lambda: (done := api.get(f"/api/runs/bulk/{operation['id']}").json())["status"] == "done" and done,
        20,
        what="the bulk operation",
    )


def test_bulk_retry_repeats_no_succeeded_action_and_twice_changes_nothing_more(
    api: httpx.Client, services: dict[str, Service], engine: Engine
) -> None:
    sms = {"type": "draft_sms", "args": {"patientId": "{patientId}", "body": "Your visit"}}
    rule = create_rule(
        api, services["evaluator"], triggerEvent=UPDATED, actionsJson=[note("before"), sms, note("after")]
    )
    patient, appointment = book(api, "Flo", "Control")  # no phone: the SMS draft fails
    edit(api, appointment, "Dr R")
    evaluated(engine, appointment["id"], UPDATED)
    [run] = rule_runs(engine, rule["id"])
    assert run.status == "failed"
    assert api.patch(f"/api/patients/{patient['id']}", json={"phone": "+15550100"}).status_code == 200

    done = bulk(api, {"action": "retry", "filter": {"ruleId": rule["id"], "status": "failed"}})
    assert (done["matched"], done["processed"], done["changed"]) == (1, 1, 1)
    wait_for(lambda: rule_runs(engine, rule["id"])[0].status == "succeeded", 20, what="the retried run")
    assert notes(api, patient["id"]) == ["before", "after"]
    assert len(api.get(f"/api/patients/{patient['id']}/drafts").json()) == 1
    actions = api.get(f"/api/runs/{run.id}").json()["actions"]
    assert [(a["index"], a["status"]) for a in actions if a["status"] == "succeeded"] == [
        (0, "succeeded"),
        (1, "succeeded"),
        (2, "succeeded"),
    ]

    again = bulk(api, {"action": "retry", "filter": {"ruleId": rule["id"]}})
    assert (again["matched"], again["changed"]) == (0, 0)
    assert notes(api, patient["id"]) == ["before", "after"]


def test_bulk_cancel_cancels_waiting_runs_once(
    api: httpx.Client, services: dict[str, Service], engine: Engine
) -> None:
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent=UPDATED,
        actionsJson=[{"type": "delay_seconds", "args": {"seconds": 3600}}, note("never")],
    )
    _, appointment = book(api, "Flo", "Control")
    edit(api, appointment, "Dr W")
    edit(api, appointment, "Dr X")
    evaluated(engine, appointment["id"], UPDATED, count=2)
    done = bulk(api, {"action": "cancel", "filter": {"ruleId": rule["id"]}})
    assert (done["matched"], done["changed"]) == (2, 2)
    assert [r.status for r in rule_runs(engine, rule["id"])] == ["cancelled", "cancelled"]
    again = bulk(api, {"action": "cancel", "filter": {"ruleId": rule["id"]}})
    assert (again["matched"], again["changed"]) == (0, 0)
    entries = api.get("/api/audit", params={"entityType": "bulk_operation"}).json()["items"]
    mine = [e for e in entries if e["entityId"] in (done["id"], again["id"])]
    assert sorted((e["action"], e["after"]["matched"]) for e in mine) == [
        ("runs.bulk_cancel", 0),
        ("runs.bulk_cancel", 2),
    ]


def test_bad_flow_control_values_are_refused_at_their_path(
    api: httpx.Client, services: dict[str, Service]
) -> None:
    rule = create_rule(api, services["evaluator"], triggerEvent=UPDATED, actionsJson=[note("x")])
    cases: list[tuple[str, str, dict[str, Any], list[Any]]] = [
        ("PATCH", f"/api/automations/{rule['id']}", {"paused": "forever"}, ["body", "paused"]),
        (
            "PATCH",
            f"/api/automations/{rule['id']}",
            {"enrollment": {"key": "appointment.id", "reenroll": "twice"}},
            ["body", "enrollment", "reenroll"],
        ),
        (
            "PATCH",
            f"/api/automations/{rule['id']}",
            {"enrollment": {"key": "appointment.nothing", "reenroll": "never"}},
            ["body", "enrollment", "key"],
        ),
        (
            "POST",
            "/api/runs/bulk",
            {"action": "cancel", "filter": {"status": "failed"}},
            ["body", "filter", "status"],
        ),
        ("POST", "/api/runs/bulk", {"action": "replay"}, ["body", "action"]),
        (
            "POST",
            "/api/runs/bulk",
            {"action": "retry", "filter": {"since": "yesterday"}},
            ["body", "filter", "since"],
        ),
    ]
    for method, path, body, loc in cases:
        response = api.request(method, path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert loc in [d["loc"] for d in response.json()["detail"]], (body, response.text)
    assert api.get("/api/runs/bulk/00000000-0000-4000-8000-000000000000").status_code == 404
