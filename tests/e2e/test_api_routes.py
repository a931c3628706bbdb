"""The rules-api's routes against the running system: rules CRUD with versions, filters, pages and
stats; the Test button through the real pipeline; runs, run details and event traces; dry-run;
bad input answered 4xx with the JSON path of every error."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from crmflow_api.app import create_app
from tests.support.processes import ROOT
from tests.support.rules import create_rule, note_rule

pytestmark = pytest.mark.e2e

NOTE = [{"type": "create_note", "args": {"patientId": "{patientId}", "body": "Hello {patient.firstName}"}}]


def locs(response: httpx.Response) -> list[list]:
    assert response.status_code == 422, response.text
    return [e["loc"] for e in response.json()["detail"]]


def test_rules_crud_versions_filters_and_pages(api, practice):
    made = []
    for name, trigger, enabled in [
        ("r1", "crm/patient.created", True),
        ("r2", "crm/patient.created", False),
        ("r3", "crm/appointment.created", True),
    ]:
        r = api.post(
            "/api/automations",
            json={"name": name, "enabled": enabled, "triggerEvent": trigger, "actionsJson": NOTE},
        )
        assert r.status_code == 201, r.text
        made.append(r.json())
    assert {r["practiceId"] for r in made} == {practice["id"]}
    assert [r["version"] for r in made] == [1, 1, 1]

    page = api.get("/api/automations", params={"triggerEvent": "crm/patient.created"}).json()
    assert (page["total"], sorted(r["name"] for r in page["items"])) == (2, ["r1", "r2"])
    assert api.get("/api/automations", params={"enabled": "false"}).json()["total"] == 1
    first = api.get("/api/automations", params={"limit": 2, "offset": 0}).json()
    second = api.get("/api/automations", params={"limit": 2, "offset": 2}).json()
    assert (first["total"], len(first["items"]), len(second["items"])) == (3, 2, 1)
    assert {r["id"] for r in first["items"] + second["items"]} == {r["id"] for r in made}
    assert first["items"][0]["stats"] == {"lastRunStatus": None, "lastRunAt": None, "runsLast24h": 0}
    assert locs(api.get("/api/automations", params={"triggerEvent": "crm/nope"})) == [
        ["query", "triggerEvent"]
    ]

    rule_id = made[0]["id"]
    patched = api.patch(f"/api/automations/{rule_id}", json={"name": "renamed"}).json()
    assert (patched["name"], patched["version"]) == ("renamed", 2)
    assert api.patch(f"/api/automations/{rule_id}", json={}).json()["version"] == 2
    assert locs(api.patch(f"/api/automations/{rule_id}", json={"name": None})) == [["body", "name"]]
    # Switching the trigger makes {patient.firstName} fine, but an appointment placeholder is not:
    bad = [{"type": "create_note", "args": {"patientId": "{patientId}", "body": "{appointment.visitType}"}}]
    assert locs(api.patch(f"/api/automations/{rule_id}", json={"actionsJson": bad})) == [
        ["body", "actionsJson", 0, "args", "body"]
    ]
    assert api.get(f"/api/automations/{rule_id}").json()["version"] == 2

    assert api.delete(f"/api/automations/{rule_id}").status_code == 204
    assert api.get(f"/api/automations/{rule_id}").status_code == 404
    assert api.delete(f"/api/automations/{rule_id}").status_code == 404
    assert api.get("/api/automations").json()["total"] == 2


def test_validation_names_the_path_of_every_error(api):
    body = {
        "name": "bad",
        "triggerEvent": "crm/patient.created",
        "conditionsJson": {
            "operator": "and",
            "conditions": [
                {"field": "patient.email", "operator": "sounds_like", "value": "x"},
                {"field": "patient.status", "operator": "equals", "value": "active"},
            ],
        },
        "actionsJson": [
            {"type": "send_fax", "args": {}},
            {"type": "draft_email", "args": {"patientId": "{patientId}", "body": "Hi {patient.nickname}"}},
        ],
    }
    assert sorted(map(str, locs(api.post("/api/automations", json=body)))) == sorted(
        map(
            str,
            [
                ["body", "conditionsJson", "conditions", 0, "operator"],
                ["body", "actionsJson", 0, "type"],
                ["body", "actionsJson", 1, "args", "subject"],
                ["body", "actionsJson", 1, "args", "body"],
            ],
        )
    )
    assert locs(api.post("/api/automations", json={**body, "triggerEvent": "crm/patient.deleted"}))[0] == [
        "body",
        "triggerEvent",
    ]
    assert ["body", "owner"] in locs(api.post("/api/automations", json={**body, "owner": "someone"}))
    deep: dict = {"field": "patient.status", "operator": "exists"}
    for _ in range(33):
        deep = {"operator": "and", "conditions": [deep]}
    deep_body = {**body, "conditionsJson": deep, "actionsJson": NOTE}
    assert locs(api.post("/api/automations", json=deep_body))[0][:2] == ["body", "conditionsJson"]
    nul = {**body, "name": "a\x00b", "conditionsJson": None, "actionsJson": NOTE}
    assert locs(api.post("/api/automations", json=nul)) == [["body", "name"]]
    assert locs(api.post("/api/patients", json={"firstName": "A", "lastName": "B", "ssn": "1"})) == [
        ["body", "ssn"]
    ]
    # update_patient_fields is held to the runner's allowlist when saved, not only when run
    update = [{"type": "update_patient_fields", "args": {"patientId": "{patientId}", "fields": {"ssn": "1"}}}]
    forbidden = {**body, "conditionsJson": None, "actionsJson": update}
    assert locs(api.post("/api/automations", json=forbidden)) == [
        ["body", "actionsJson", 0, "args", "fields", "ssn"]
    ]
    created = api.post("/api/automations", json={**body, "conditionsJson": None, "actionsJson": NOTE})
    assert created.status_code == 201, created.text
    patched = api.patch(f"/api/automations/{created.json()['id']}", json={"actionsJson": update})
    assert locs(patched) == [["body", "actionsJson", 0, "args", "fields", "ssn"]]


def test_bodies_over_256_kib_get_413_even_when_chunked(api):
    big = b'{"firstName": "' + b"x" * (256 * 1024) + b'"}'
    response = api.post("/api/patients", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413

    def chunks():
        for _ in range(30):
            yield b"x" * 10_000

    response = api.post("/api/patients", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"detail": "body over 262144 bytes"}


def test_test_button_runs_the_real_pipeline_and_the_trace_shows_it(api, services):
    evaluator = services["evaluator"]
    rule = note_rule(api, evaluator, body="Hello {patient.firstName}")
    other = create_rule(
        api, evaluator, triggerEvent="crm/patient.created", enabled=False, actionsJson=NOTE, name="disabled"
    )
    patient = api.post("/api/patients", json={"firstName": "Mae", "lastName": "Jemison"}).json()

    response = api.post(
        "/api/automations/test",
        json={"eventName": "crm/patient.created", "entityType": "patient", "data": {"patient": patient}},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    # The user's POST /api/patients event ran the rule too; this event ran it once more.
    [run] = result["runs"]
    assert (run["ruleId"], run["status"], run["eventId"]) == (rule["id"], "succeeded", result["eventId"])
    assert [(a["index"], a["type"], a["status"]) for a in run["actions"]] == [(0, "create_note", "succeeded")]
    assert run["actions"][0]["args"]["body"] == {"redacted": True, "chars": len("Hello Mae")}

    assert api.get(f"/api/runs/{run['id']}").json() == run
    rule_runs = api.get(f"/api/automations/{rule['id']}/runs").json()
    assert rule_runs["total"] == 2 and run["id"] in [r["id"] for r in rule_runs["items"]]
    assert api.get(f"/api/automations/{rule['id']}/runs", params={"status": "failed"}).json()["total"] == 0
    by_rule = api.get("/api/runs", params={"ruleId": rule["id"], "limit": 1}).json()
    assert (by_rule["total"], len(by_rule["items"])) == (2, 1)

    trace = api.get(f"/api/events/{result['eventId']}").json()
    assert (trace["name"], trace["entityId"], trace["status"]) == (
        "crm/patient.created",
        patient["id"],
        "published",
    )
    assert trace["kafka"]["topic"] == "crm.patient" and trace["outbox"]["publishedAt"]
    assert [r["id"] for r in trace["runs"]] == [run["id"]]

    stats = {r["id"]: r["stats"] for r in api.get("/api/automations").json()["items"]}
    assert stats[rule["id"]]["lastRunStatus"] == "succeeded" and stats[rule["id"]]["runsLast24h"] == 2
    assert stats[other["id"]]["runsLast24h"] == 0

    # The Test button of the disabled rule: only that rule runs, on the trigger's sample data
    # (whose patient is not in this practice, so the note fails the practice check).
    response = api.post(f"/api/automations/{other['id']}/test", json={})
    assert response.status_code == 200, response.text
    [only] = response.json()["runs"]
    assert (only["ruleId"], only["status"]) == (other["id"], "failed")
    assert "not found in this practice" in only["error"]

    # No wait: 202 with the event id; the runs arrive later.
    late = api.post(
        f"/api/automations/{rule['id']}/test", json={"data": {"patient": patient}, "waitSeconds": 0}
    )
    assert late.status_code == 202 and late.json()["eventId"]
    notes = api.get(f"/api/patients/{patient['id']}/notes").json()
    assert all(n["body"] == "Hello Mae" for n in notes) and len(notes) >= 2


def test_dry_run_explains_without_side_effects(api):
    condition = {
        "operator": "and",
        "conditions": [
            {"field": "patient.email", "operator": "exists"},
            {"field": "patient.tags", "operator": "contains", "value": "vip"},
        ],
    }
    data = {"patient": {"email": "x@example.com", "tags": ["vip"]}}
    result = api.post("/api/automations/dry-run", json={"conditionsJson": condition, "data": data}).json()
    assert result["matched"] is True and result["trace"]
    data["patient"]["tags"] = []
    assert (
        api.post("/api/automations/dry-run", json={"conditionsJson": condition, "data": data}).json()[
            "matched"
        ]
        is False
    )
    bad = {"field": "patient.email", "operator": "looks_like"}
    assert locs(api.post("/api/automations/dry-run", json={"conditionsJson": bad, "data": {}})) == [
        ["body", "conditionsJson", "operator"]
    ]
    assert api.get("/api/runs").json()["total"] == 0


def test_api_keys_are_created_and_revoked_with_the_cli(services, practice):
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "crmflow", *args], capture_output=True, text=True, cwd=ROOT
        )

    created = cli("key", "create", "--practice", practice["id"])
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["apiKey"]
    url = f"{services['api'].url}/api/automations"
    assert httpx.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert cli("key", "revoke", key).returncode == 0
    revoked = httpx.get(url, headers={"Authorization": f"Bearer {key}"})
    assert revoked.status_code == 401 and revoked.json() == {"detail": "invalid API key"}
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {key}x"}).status_code == 401
    # The fixture's key of the same practice still works.
    assert httpx.get(url, headers={"Authorization": f"Bearer {practice['apiKey']}"}).status_code == 200


def test_an_authenticated_request_takes_one_pool_connection(settings, practice):
    """The key look-up shares the route's transaction (in process, to count the real pool's checkouts)."""
    app = create_app(settings)
    checkouts: list[object] = []
    event.listen(app.state.engine, "checkout", lambda *args: checkouts.append(args[1]))
    client = TestClient(app, headers={"Authorization": f"Bearer {practice['apiKey']}"})
    try:
        for method, path, body, status in [
            ("POST", "/api/patients", {"firstName": "Ada", "lastName": "Lovelace"}, 201),
            ("GET", "/api/automations", None, 200),
            ("GET", f"/api/runs/{practice['id']}", None, 404),
        ]:
            checkouts.clear()
            response = client.request(method, path, json=body)
            assert response.status_code == status, response.text
            assert len(checkouts) == 1, (method, path, len(checkouts))
        checkouts.clear()
        bad = client.get("/api/automations", headers={"Authorization": "Bearer cf_no_such_key"})
        assert (bad.status_code, len(checkouts)) == (401, 1)
    finally:
        app.state.engine.dispose()
