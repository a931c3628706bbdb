"""Rule versions, restore and the audit log through the real stack: a restored definition is
announced on crm.rule and the evaluator runs it on the next event; the run names its version and
shows that version's definition."""

from __future__ import annotations

import httpx
import pytest

from tests.support.processes import wait_for
from tests.support.rules import evaluator_holds, note_rule

pytestmark = pytest.mark.e2e


def notes_of(api: httpx.Client, patient_id: str) -> list[str]:
    return [n["body"] for n in api.get(f"/api/patients/{patient_id}/notes").json()]


def test_a_restored_version_is_what_the_evaluator_runs_next(api, services, practice):
    evaluator = services["evaluator"]
    prefix = practice["apiKey"].split("_")[1]
    rule = note_rule(api, evaluator, body="first text")
    v2 = api.patch(
        f"/api/automations/{rule['id']}",
        json={
            "actionsJson": [{"type": "create_note", "args": {"patientId": "{patientId}", "body": "second"}}]
        },
    )
    assert v2.status_code == 200 and v2.json()["version"] == 2
    assert api.patch(f"/api/automations/{rule['id']}", json={"enabled": False}).json()["version"] == 3

    restored = api.post(f"/api/automations/{rule['id']}/restore", json={"version": 1})
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert (body["version"], body["enabled"], body["actionsJson"]) == (4, True, rule["actionsJson"])
    wait_for(lambda: evaluator_holds(evaluator, rule["id"], 4), 10, what="the evaluator to hold version 4")

    versions = api.get(f"/api/automations/{rule['id']}/versions").json()
    assert [(v["version"], v["change"], v["changedBy"]) for v in versions] == [
        (4, "restore", prefix),
        (3, "disable", prefix),
        (2, "update", prefix),
        (1, "create", prefix),
    ]
    assert versions[0]["restoredFrom"] == 1
    assert versions[0]["definition"] == {**versions[3]["definition"]}

    patient = api.post("/api/patients", json={"firstName": "Ada", "lastName": "Lovelace"}).json()
    wait_for(lambda: notes_of(api, patient["id"]) == ["first text"], 15, what="the restored rule's note")
    [run] = api.get(f"/api/automations/{rule['id']}/runs").json()["items"]
    assert run["ruleVersion"] == 4
    detail = api.get(f"/api/runs/{run['id']}").json()
    assert detail["ruleDefinition"] == versions[0]["definition"]

    audit = api.get("/api/audit", params={"entityType": "rule"}).json()
    assert [e["action"] for e in audit["items"]] == [
        "rule.restore",
        "rule.disable",
        "rule.update",
        "rule.create",
    ]
    assert audit["items"][0]["after"]["restoredFrom"] == 1 and audit["items"][0]["actor"] == prefix


def test_history_routes_refuse_what_does_not_fit(api, services, practice, settings):
    rule = note_rule(api, services["evaluator"], body="x")
    url = f"/api/automations/{rule['id']}"
    missing = api.post(f"{url}/restore", json={"version": 9})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "version"]
    assert api.post(f"{url}/restore", json={"version": 0}).status_code == 422
    assert api.post(f"{url}/restore", json={"version": 1, "extra": 1}).status_code == 422
    assert api.get("/api/automations/00000000-0000-0000-0000-000000000000/versions").status_code == 404
    assert api.get("/api/automations/not-a-uuid/versions").status_code == 404

    # Another practice sees neither the rule's history nor its audit entries.
    other = httpx.post(
        f"{services['api'].url}/api/automations/{rule['id']}/restore",
        json={"version": 1},
        headers={"Authorization": f"Bearer {other_key(settings)}"},
    )
    assert other.status_code == 404

    # A deleted rule keeps its history and comes back on restore.
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.get(f"{url}/versions").json()[0]["change"] == "delete"
    back = api.post(f"{url}/restore", json={"version": 1})
    assert back.status_code == 200 and back.json()["version"] == 3
    assert api.get(url).status_code == 200
    wait_for(lambda: evaluator_holds(services["evaluator"], rule["id"], 3), 10, what="the rule back")
    patient = api.post("/api/patients", json={"firstName": "Lazarus", "lastName": "Back"}).json()
    wait_for(lambda: notes_of(api, patient["id"]) == ["x"], 15, what="the restored rule's note")

    page = api.get("/api/audit", params={"limit": 2}).json()
    assert page["total"] >= 4 and len(page["items"]) == 2 and page["limit"] == 2
    ats = [e["at"] for e in api.get("/api/audit").json()["items"]]
    assert ats == sorted(ats, reverse=True)
    later = api.get("/api/audit", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert later["total"] == 0
    assert api.get("/api/audit", params={"since": "yesterday"}).status_code == 422
    assert api.get("/api/audit", params={"entityType": "Rule!"}).status_code == 422
    assert api.get("/api/audit", params={"nope": 1}).status_code == 422


def other_key(settings) -> str:
    from crmflow.apikeys import create_key, create_practice
    from crmflow.db.engine import make_engine

    with make_engine(settings, pool_size=1).begin() as conn:
        return create_key(conn, create_practice(conn, "Other practice"), settings.api_key_secret)
