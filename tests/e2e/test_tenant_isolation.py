"""Tenant isolation, proven on the running system for EVERY route of the app's route table:
practice B's key on practice A's resources answers 404 (or B's own, empty view) with none of A's
data; A's events never run B's rules; a rule aimed at another practice's patient touches nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import text

from crmflow.apikeys import create_key, create_practice
from crmflow_api.app import create_app
from tests.support.processes import wait_for
from tests.support.rules import create_rule, note_rule

pytestmark = pytest.mark.e2e

NOT_TENANT_SCOPED = {("POST", "/api/internal/outbox/publish")}  # X-Internal-Api-Key, no practice data


@dataclass
class Tenant:
    practice_id: str
    client: httpx.Client
    ids: dict[str, str]
    secrets: list[str]  # strings of this tenant that must never show up in another's response


def new_tenant(engine, settings, services, name: str) -> Tenant:
    with engine.begin() as conn:
        practice_id = create_practice(conn, f"{name} {uuid.uuid4().hex[:6]}")
        key = create_key(conn, practice_id, settings.api_key_secret)
    client = httpx.Client(
        base_url=services["api"].url, timeout=20, headers={"Authorization": f"Bearer {key}"}
    )
    return Tenant(practice_id, client, {}, [])


@pytest.fixture
def tenants(engine, settings, services):
    a = new_tenant(engine, settings, services, "Practice A")
    b = new_tenant(engine, settings, services, "Practice B")
    yield a, b
    a.client.close()
    b.client.close()


def populate(t: Tenant, evaluator, first: str, email: str) -> None:
    rule = note_rule(t.client, evaluator, body="Seen {patient.firstName}")
    patient = t.client.post(
        "/api/patients",
        json={"firstName": first, "lastName": "Isolde", "email": email, "phone": "+1 555 0100"},
    ).json()
    appointment = t.client.post(
        "/api/appointments",
        json={
            "patientId": patient["id"],
            "startsAt": "2030-01-02T10:00:00Z",
            "visitType": "Checkup",
            "status": "scheduled",
        },
    ).json()
    result = t.client.post(
        "/api/automations/test",
        json={"eventName": "crm/patient.created", "entityType": "patient", "data": {"patient": patient}},
    ).json()
    [run] = result["runs"]
    assert run["status"] == "succeeded"
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    backtest = t.client.post("/api/automations/backtest", json={"ruleId": rule["id"], "since": since})
    assert backtest.status_code == 202, backtest.text
    wait_for(
        lambda: t.client.get(f"/api/backtests/{backtest.json()['id']}").json()["status"] == "done",
        30,
        what="the backtest",
    )
    bulk = t.client.post("/api/runs/bulk", json={"action": "retry", "filter": {"ruleId": rule["id"]}})
    assert bulk.status_code == 202, bulk.text
    t.ids.update(
        backtest_id=backtest.json()["id"],
        operation_id=bulk.json()["id"],
        patient_id=patient["id"],
        appointment_id=appointment["id"],
        rule_id=rule["id"],
        run_id=run["id"],
        event_id=result["eventId"],
    )
    t.secrets += [t.practice_id, *t.ids.values(), first, email]


def snapshot(t: Tenant) -> dict[str, Any]:
    return {
        "practice": t.client.get("/api/practice").json(),
        "patient": t.client.get(f"/api/patients/{t.ids['patient_id']}").json(),
        "appointment": t.client.get(f"/api/appointments/{t.ids['appointment_id']}").json(),
        "rule": t.client.get(f"/api/automations/{t.ids['rule_id']}").json(),
        "notes": t.client.get(f"/api/patients/{t.ids['patient_id']}/notes").json(),
        "drafts": t.client.get(f"/api/patients/{t.ids['patient_id']}/drafts").json(),
    }


def probes(a: Tenant, b: Tenant) -> dict[tuple[str, str], tuple[dict[str, Any], set[int]]]:
    """(method, route template) -> (request kwargs of B aimed at A, expected statuses)."""
    appointment = {
        "patientId": a.ids["patient_id"],
        "startsAt": "2030-01-02T10:00:00Z",
        "visitType": "X",
        "status": "s",
    }
    rule = {
        "name": "b rule",
        "triggerEvent": "crm/patient.created",
        "actionsJson": [{"type": "create_task", "args": {"title": "t"}}],
    }
    test_event = {
        "eventName": "crm/patient.created",
        "entityType": "patient",
        "data": {"patient": {"id": a.ids["patient_id"]}},
    }
    return {
        ("GET", "/api/catalog"): ({}, {200}),
        # "the practice" is always the key's own: B reads and changes B's settings, never A's.
        ("GET", "/api/practice"): ({}, {200}),
        ("PATCH", "/api/practice"): ({"json": {"timeZone": "Asia/Tokyo"}}, {200}),
        ("POST", "/api/patients"): ({"json": {"firstName": "Bo", "lastName": "B"}}, {201}),
        ("GET", "/api/patients/{patient_id}"): ({}, {404}),
        ("PATCH", "/api/patients/{patient_id}"): ({"json": {"status": "inactive"}}, {404}),
        ("GET", "/api/patients/{patient_id}/notes"): ({}, {404}),
        ("GET", "/api/patients/{patient_id}/tasks"): ({}, {404}),
        ("GET", "/api/patients/{patient_id}/drafts"): ({}, {404}),
        ("POST", "/api/appointments"): ({"json": appointment}, {404}),
        ("GET", "/api/appointments/{appointment_id}"): ({}, {404}),
        ("PATCH", "/api/appointments/{appointment_id}"): ({"json": {"status": "cancelled"}}, {404}),
        ("POST", "/api/automations"): ({"json": rule}, {201}),
        ("GET", "/api/automations"): ({}, {200}),
        ("POST", "/api/automations/dry-run"): ({"json": {"conditionsJson": None, "data": {}}}, {200}),
        ("GET", "/api/automations/{rule_id}"): ({}, {404}),
        ("PATCH", "/api/automations/{rule_id}"): ({"json": {"enabled": False}}, {404}),
        ("DELETE", "/api/automations/{rule_id}"): ({}, {404}),
        # B's own event naming A's patient: only B's rules run, and their actions fail the practice check.
        ("POST", "/api/automations/test"): ({"json": test_event}, {200}),
        ("POST", "/api/automations/{rule_id}/test"): ({"json": {}}, {404}),
        ("GET", "/api/automations/{rule_id}/runs"): ({}, {404}),
        ("GET", "/api/runs"): ({"params": {"ruleId": a.ids["rule_id"]}}, {200}),
        # B's bulk operation naming A's rule matches none of A's runs.
        ("POST", "/api/runs/bulk"): (
            {"json": {"action": "cancel", "filter": {"ruleId": a.ids["rule_id"]}}},
            {202},
        ),
        ("GET", "/api/runs/bulk/{operation_id}"): ({}, {404}),
        ("GET", "/api/runs/{run_id}"): ({}, {404}),
        ("GET", "/api/events/{event_id}"): ({}, {404}),
        ("GET", "/api/automations/{rule_id}/versions"): ({}, {404}),
        ("POST", "/api/automations/{rule_id}/restore"): ({"json": {"version": 1}}, {404}),
        # B's own audit log: B's entries only (A's rule id, practice and names never show).
        ("GET", "/api/audit"): ({"params": {"entityType": "rule"}}, {200}),
        ("POST", "/api/automations/backtest"): (
            {"json": {"ruleId": a.ids["rule_id"], "since": datetime.now(UTC).isoformat()}},
            {404},
        ),
        ("GET", "/api/backtests/{backtest_id}"): ({}, {404}),
        ("DELETE", "/api/backtests/{backtest_id}"): ({}, {404}),
        ("POST", "/api/drafts/{draft_id}/send"): ({}, {404}),
        # Webhook secrets are the key's own practice's (B's): never A's, whose secret is in a.secrets.
        ("GET", "/api/practice/webhook-secret"): ({}, {200}),
        ("POST", "/api/practice/webhook-secret"): ({}, {201}),
        ("POST", "/api/webhooks/test"): (
            {"json": {"url": "https://example.com/h", "data": {"patient": {"id": a.ids["patient_id"]}}}},
            {200},
        ),
    }


def test_every_route_hides_practice_a_from_practice_b(tenants, services, settings, engine):
    a, b = tenants
    populate(a, services["evaluator"], "Octavia", "octavia.isolde@example.org")
    populate(b, services["evaluator"], "Bertrand", "bertrand.isolde@example.org")
    with engine.begin() as conn:  # a draft of A's, which B may not send
        a.ids["draft_id"] = str(
            conn.execute(
                text(
                    "INSERT INTO message_drafts (practice_id, patient_id, channel, to_address, body) "
                    "VALUES (:p, :patient, 'email', 'octavia.isolde@example.org', 'Hi') RETURNING id"
                ),
                {"p": a.practice_id, "patient": a.ids["patient_id"]},
            ).scalar_one()
        )
    a.secrets.append(a.client.post("/api/practice/webhook-secret").json()["secret"])
    before = snapshot(a)

    table = probes(a, b)
    routes = {
        (method, route.path)
        for route in iter_route_contexts(create_app(settings).routes)
        if route.path and route.path.startswith("/api/")
        for method in route.methods or ()
    }
    assert routes - NOT_TENANT_SCOPED == set(table), "every /api route needs a tenant probe"

    probed = 0
    for (method, template), (kwargs, expected) in table.items():
        path = template.format(**a.ids)
        response = b.client.request(method, path, **kwargs)
        assert response.status_code in expected, (method, template, response.status_code, response.text)
        leaked = [s for s in a.secrets if s in response.text and s not in str(kwargs)]
        assert not leaked, (method, template, leaked)
        if response.status_code == 404:
            assert set(response.json()) == {"detail"}
        if template == "/api/runs/bulk":
            assert response.json()["matched"] == 0
        probed += 1
    print(f"\ntenant isolation: {probed} routes probed with practice B's key on practice A's resources")

    assert snapshot(a) == before  # B's PATCH/DELETE attempts changed nothing of A
    assert b.client.get("/api/runs", params={"ruleId": a.ids["rule_id"]}).json()["total"] == 0
    assert a.ids["rule_id"] not in {r["id"] for r in b.client.get("/api/automations").json()["items"]}


def test_events_of_a_never_run_rules_of_b(tenants, services, engine):
    a, b = tenants
    b_rule = note_rule(b.client, services["evaluator"], body="B note")
    a_rule = note_rule(a.client, services["evaluator"], body="A note")
    patient = a.client.post("/api/patients", json={"firstName": "Ines", "lastName": "Quarto"}).json()
    notes = wait_for(lambda: a.client.get(f"/api/patients/{patient['id']}/notes").json(), 10, what="A's note")
    assert [n["body"] for n in notes] == ["A note"]
    runs = a.client.get("/api/runs").json()["items"]
    assert [r["ruleId"] for r in runs] == [a_rule["id"]]
    assert b.client.get(f"/api/automations/{b_rule['id']}/runs").json()["total"] == 0
    with engine.connect() as conn:
        crossed = conn.execute(
            text(
                "SELECT count(*) FROM automation_runs r JOIN automation_rules ru ON ru.id = r.rule_id "
                "WHERE r.practice_id <> ru.practice_id"
            )
        ).scalar_one()
    assert crossed == 0


def test_a_rule_aimed_at_another_practices_patient_fails_and_touches_nothing(tenants, services):
    a, b = tenants
    victim = b.client.post(
        "/api/patients",
        json={
            "firstName": "Vera",
            "lastName": "Lindqvist",
            "email": "vera@example.org",
            "phone": "+1 555 0142",
        },
    ).json()
    target = victim["id"]
    actions = [
        {"type": "create_note", "args": {"patientId": target, "body": "x"}},
        {"type": "draft_email", "args": {"patientId": target, "subject": "s", "body": "b"}},
        {"type": "draft_sms", "args": {"patientId": target, "body": "b"}},
        {"type": "create_task", "args": {"patientId": target, "title": "t"}},
        {"type": "update_patient_fields", "args": {"patientId": target, "fields": {"status": "archived"}}},
    ]
    rules = [
        create_rule(a.client, services["evaluator"], triggerEvent="crm/patient.created", actionsJson=[action])
        for action in actions
    ]
    own = a.client.post("/api/patients", json={"firstName": "Amos", "lastName": "Ferro"}).json()
    response = a.client.post(
        "/api/automations/test",
        json={"eventName": "crm/patient.created", "entityType": "patient", "data": {"patient": own}},
    )
    assert response.status_code == 200, response.text
    runs = response.json()["runs"]
    assert sorted(r["ruleId"] for r in runs) == sorted(r["id"] for r in rules)
    for run in runs:
        assert run["status"] == "failed", run
        assert f"patient {target} not found in this practice" in run["error"]
        assert [x["status"] for x in run["actions"]] == ["failed"]
    for effect in ("notes", "drafts", "tasks"):
        assert b.client.get(f"/api/patients/{target}/{effect}").json() == []
    assert b.client.get(f"/api/patients/{target}").json() == victim
