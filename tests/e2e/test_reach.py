"""Reach through the whole pipeline (SPEC section 9): rules that send, consent, quiet hours, frequency
caps and human approval, with the services pointed at the session's SMTP server and SMS provider
(tests/support/reach.py)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.processes import wait_for
from tests.support.reach import ReachServers
from tests.support.rules import create_rule
from tests.support.runner import rows

pytestmark = pytest.mark.e2e


def unique_address() -> str:
    return f"p{uuid.uuid4().hex[:10]}@example.test"


def new_patient(api: httpx.Client, **values: Any) -> dict[str, Any]:
    response = api.post("/api/patients", json={"firstName": "Ada", "lastName": "Reach", **values})
    assert response.status_code == 201, response.text
    return response.json()


def the_run(
    api: httpx.Client, engine, rule_id: str, patient_id: str, status: str, timeout: float = 30
) -> dict:
    def found() -> dict | None:
        got = rows(
            engine,
            "SELECT id::text AS id FROM automation_runs WHERE rule_id = :r AND patient_id = :p",
            r=rule_id,
            p=patient_id,
        )
        if not got:
            return None
        run = api.get(f"/api/runs/{got[0].id}").json()
        return run if run["status"] == status else None

    return wait_for(found, timeout, 0.2, f"a run of {rule_id} {status}")


SEND_EMAIL = {
    "type": "send_email",
    "args": {"patientId": "{patientId}", "subject": "Welcome {patient.firstName}", "body": "Hello!"},
}


def test_a_rule_sends_an_email_once_and_run_detail_shows_its_delivery(
    api, services, engine, reach: ReachServers
) -> None:
    rule = create_rule(
        api, services["evaluator"], triggerEvent="crm/patient.created", actionsJson=[SEND_EMAIL]
    )
    address = unique_address()
    patient = new_patient(api, email=address, emailOptIn=True)
    assert (patient["emailOptIn"], patient["smsOptIn"]) == (True, False)
    run = the_run(api, engine, rule["id"], patient["id"], "succeeded")
    (mail,) = reach.smtp.sink.to(address)
    assert mail["Message-ID"] == f"<{run['id']}.0@crmflow.test>"
    assert (mail["From"], mail["Subject"]) == ("clinic@crmflow.test", "Welcome Ada")
    assert [(a["status"], a["index"]) for a in run["actions"]] == [("queued", 0), ("succeeded", 0)]
    (delivery,) = run["deliveries"]
    assert (delivery["channel"], delivery["status"], delivery["attempts"], delivery["index"]) == (
        "email",
        "delivered",
        1,
        0,
    )
    assert delivery["providerId"] == mail["Message-ID"]
    assert address not in str(run)  # no address in the run's logs or deliveries
    time.sleep(2)
    assert len(reach.smtp.sink.to(address)) == 1


def test_without_consent_the_send_is_skipped_and_consent_is_settable(api, services, engine, reach) -> None:
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent="crm/patient.created",
        actionsJson=[
            SEND_EMAIL,
            {"type": "create_note", "args": {"patientId": "{patientId}", "body": "went on"}},
        ],
    )
    address = unique_address()
    patient = new_patient(api, email=address)
    run = the_run(api, engine, rule["id"], patient["id"], "succeeded")
    assert [(a["status"], a["error"]) for a in run["actions"]] == [
        ("skipped", "no_consent"),
        ("succeeded", None),
    ]
    assert run["deliveries"] == [] and reach.smtp.sink.to(address) == []
    changed = api.patch(f"/api/patients/{patient['id']}", json={"emailOptIn": True, "smsOptIn": True})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["emailOptIn"], changed.json()["smsOptIn"]) == (True, True)
    refused = api.patch(f"/api/patients/{patient['id']}", json={"emailOptIn": "yes"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "emailOptIn"]
    refused = api.patch(f"/api/patients/{patient['id']}", json={"smsOptIn": None})
    assert refused.status_code == 422


def test_message_caps_are_practice_settings(api) -> None:
    changed = api.patch(
        "/api/practice", json={"messageCaps": {"perPatientPerDay": 2, "perPatientPerWeek": 5}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["messageCaps"] == {"perPatientPerDay": 2, "perPatientPerWeek": 5}
    for body, loc in (
        ({"messageCaps": {"perPatientPerDay": -1}}, ["body", "messageCaps", "perPatientPerDay"]),
        ({"messageCaps": {"perPatientPerWeek": True}}, ["body", "messageCaps", "perPatientPerWeek"]),
        ({"messageCaps": {"perMonth": 3}}, ["body", "messageCaps", "perMonth"]),
    ):
        refused = api.patch("/api/practice", json=body)
        assert refused.status_code == 422, refused.text
        assert [e["loc"] for e in refused.json()["detail"]] == [loc]
    cleared = api.patch("/api/practice", json={"messageCaps": None})
    assert cleared.json()["messageCaps"] is None


def test_an_approved_draft_is_sent_once(api, services, engine, reach) -> None:
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent="crm/patient.created",
        actionsJson=[
            {"type": "draft_email", "args": {"patientId": "{patientId}", "subject": "Draft", "body": "Hi"}},
        ],
    )
    address = unique_address()
    patient = new_patient(api, email=address, emailOptIn=True)
    the_run(api, engine, rule["id"], patient["id"], "succeeded")
    (draft,) = api.get(f"/api/patients/{patient['id']}/drafts").json()
    assert (draft["status"], draft["error"], draft["sentAt"]) == ("draft", None, None)
    sent = api.post(f"/api/drafts/{draft['id']}/send")
    assert sent.status_code == 202, sent.text
    assert sent.json()["status"] == "sending"
    again = api.post(f"/api/drafts/{draft['id']}/send")
    assert again.status_code == 409, again.text

    def status() -> dict | None:
        (current,) = api.get(f"/api/patients/{patient['id']}/drafts").json()
        return current if current["status"] == "sent" else None

    final = wait_for(status, 20, 0.2, "the draft sent")
    assert final["sentAt"] is not None
    (mail,) = reach.smtp.sink.to(address)
    assert mail["Message-ID"] == f"<draft-{draft['id']}.1@crmflow.test>"
    assert mail["Subject"] == "Draft"
    (entry,) = api.get("/api/audit", params={"entityType": "draft"}).json()["items"]
    assert (entry["action"], entry["entityId"], entry["after"]["status"]) == (
        "draft.send",
        draft["id"],
        "sending",
    )
    assert address not in str(entry)
    assert api.post(f"/api/drafts/{uuid.uuid4()}/send").status_code == 404
    assert api.post("/api/drafts/not-an-id/send").status_code == 404


def test_a_draft_without_consent_fails_with_the_reason(api, services, engine, reach) -> None:
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent="crm/patient.created",
        actionsJson=[{"type": "draft_sms", "args": {"patientId": "{patientId}", "body": "Hi"}}],
    )
    patient = new_patient(api, phone="+15550001111")
    the_run(api, engine, rule["id"], patient["id"], "succeeded")
    (draft,) = api.get(f"/api/patients/{patient['id']}/drafts").json()
    sent = api.post(f"/api/drafts/{draft['id']}/send")
    assert sent.status_code == 202, sent.text
    assert (sent.json()["status"], sent.json()["error"]) == ("failed", "no_consent")
    assert reach.sms.to("+15550001111") == []


def test_a_send_in_quiet_hours_waits_for_their_end(api, services, engine, reach) -> None:
    now = datetime.now(UTC)
    if 60 - now.second < 12:
        time.sleep(60 - now.second + 1)
        now = datetime.now(UTC)
    end = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    quiet = {"start": (now - timedelta(minutes=1)).strftime("%H:%M"), "end": end.strftime("%H:%M")}
    assert api.patch("/api/practice", json={"timeZone": "UTC", "quietHours": quiet}).status_code == 200
    rule = create_rule(
        api, services["evaluator"], triggerEvent="crm/patient.created", actionsJson=[SEND_EMAIL]
    )
    address = unique_address()
    patient = new_patient(api, email=address, emailOptIn=True)
    run = the_run(api, engine, rule["id"], patient["id"], "waiting")
    (deferred,) = run["actions"]
    assert deferred["status"] == "deferred"
    assert datetime.fromisoformat(deferred["result"]["dueAt"]) == end
    assert reach.smtp.sink.to(address) == []
    run = the_run(api, engine, rule["id"], patient["id"], "succeeded", timeout=90)
    assert [a["status"] for a in run["actions"]] == ["deferred", "queued", "succeeded"]
    assert len(reach.smtp.sink.to(address)) == 1
    assert datetime.fromisoformat(run["deliveries"][0]["finishedAt"]) >= end
