"""No PHI in logs: a realistic scenario through every service, then every line the service logs got
meanwhile is scanned for the patients' names, emails, phones and the free-text bodies. None may appear.

The evaluator runs at DEBUG meanwhile: it then logs a line per event it evaluates, so the scan
covers the scenario's own events (at INFO the scenario logs next to nothing, and a scan of older
lines could not tell)."""

from __future__ import annotations

import json
from collections import Counter
from functools import partial
from typing import Any

import pytest

from tests.support.processes import lines_since, wait_for
from tests.support.rules import create_rule

pytestmark = pytest.mark.e2e

PATIENTS: list[dict[str, Any]] = [
    {
        "firstName": "Rosalind",
        "lastName": "Achterberg",
        "email": "rosalind.achterberg@mailbox.example",
        "phone": "+1 (415) 555-0187",
        "tags": ["cardiology"],
        "emailOptIn": True,
        "smsOptIn": True,
    },
    {
        "firstName": "Tobias",
        "lastName": "Wainwright-Oyelaran",
        "email": "t.wainwright.oyelaran@post.example",
        "phone": "+44 20 7946 0321",
        "emailOptIn": True,
        "smsOptIn": True,
    },
]
NOTE_BODY = "Reports intermittent chest tightness after climbing stairs; advised ECG before follow-up"
EMAIL_BODY = "Dear {patient.firstName} {patient.lastName}, your cardiology consultation is confirmed"
SMS_BODY = "Hi {patient.firstName}, reply YES to confirm your visit on {appointment.startsAt}"


def rows_of(engine: Any, patient_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.exec_driver_sql(
                f"SELECT status, error FROM message_deliveries WHERE patient_id = '{patient_id}'"
            ).all()
        )


def phi_strings() -> list[str]:
    strings = [NOTE_BODY, "chest tightness", "cardiology consultation is confirmed", "reply YES to confirm"]
    for p in PATIENTS:
        strings += [p["firstName"], p["lastName"], p["email"], p["phone"], p["phone"].replace(" ", "")]
    return strings


def test_a_realistic_scenario_leaves_no_phi_in_any_service_log(
    api, services, run_dir, practice, reach, engine
):
    evaluator = services["evaluator"]
    # Sends too (SPEC section 9): the second patient's provider refuses both, quoting the address
    # and the number as providers do; the refusals are recorded without them.
    reach.smtp.sink.reply_for[PATIENTS[1]["email"]] = (
        f"550 5.1.1 <{PATIENTS[1]['email']}>: Recipient address rejected"
    )
    reach.sms.fail[PATIENTS[1]["phone"]] = [400]
    logs = sorted((run_dir / "logs").glob("test-*.log"))
    assert {p.name for p in logs} >= {"test-api.log", "test-evaluator.log", "test-runner.log"}
    offsets = {path: path.stat().st_size for path in logs}
    with evaluator.restarted_with(CRMFLOW_LOG_LEVEL="DEBUG"):
        create_rule(
            api,
            evaluator,
            triggerEvent="crm/patient.created",
            actionsJson=[
                {"type": "create_note", "args": {"patientId": "{patientId}", "body": NOTE_BODY}},
                {
                    "type": "draft_email",
                    "args": {"patientId": "{patientId}", "subject": "Welcome", "body": EMAIL_BODY},
                },
                {
                    "type": "send_email",
                    "args": {"patientId": "{patientId}", "subject": "Welcome", "body": EMAIL_BODY},
                },
            ],
        )
        create_rule(
            api,
            evaluator,
            triggerEvent="crm/appointment.created",
            conditionsJson={"field": "patient.phone", "operator": "exists"},
            actionsJson=[
                {"type": "draft_sms", "args": {"patientId": "{patientId}", "body": SMS_BODY}},
                {
                    "type": "update_patient_fields",
                    "args": {"patientId": "{patientId}", "fields": {"status": "confirmed"}},
                },
                {"type": "send_sms", "args": {"patientId": "{patientId}", "body": SMS_BODY}},
            ],
        )
        created = [api.post("/api/patients", json=p).json() for p in PATIENTS]
        for patient in created:
            appointment = api.post(
                "/api/appointments",
                json={
                    "patientId": patient["id"],
                    "startsAt": "2031-05-06T09:30:00Z",
                    "visitType": "Consultation",
                    "status": "scheduled",
                },
            ).json()
            api.patch(f"/api/appointments/{appointment['id']}", json={"provider": "Dr. Helena Marchetti"})
        # Every service handles PHI-bearing input: the Test button, a dry-run, a refused write.
        tested = api.post(
            "/api/automations/test",
            json={
                "eventName": "crm/patient.created",
                "entityType": "patient",
                "data": {"patient": created[0]},
            },
        )
        assert tested.status_code in (200, 202), tested.text  # accepted: the data went through
        dry_run = api.post(
            "/api/automations/dry-run", json={"conditionsJson": None, "data": {"patient": created[1]}}
        )
        assert dry_run.status_code == 200, dry_run.text
        refused = api.post(
            "/api/patients", json={**PATIENTS[0], "email": "not-an-email " + PATIENTS[0]["email"]}
        )
        assert refused.status_code == 422

        def drafted(patient_id: str) -> bool:
            return len(api.get(f"/api/patients/{patient_id}/drafts").json()) >= 2

        for patient in created:
            wait_for(partial(drafted, patient["id"]), 15, what="drafts")
        for patient in created:  # approved drafts go out through the senders too
            for draft in api.get(f"/api/patients/{patient['id']}/drafts").json():
                assert api.post(f"/api/drafts/{draft['id']}/send").status_code == 202

        def settled(patient_id: str) -> bool:  # two sends by rules, the approved drafts (2 or more)
            found = rows_of(engine, patient_id)
            return len(found) >= 4 and all(r.status != "pending" for r in found)

        for patient in created:
            wait_for(partial(settled, patient["id"]), 30, what="every delivery final")
            assert api.get(f"/api/patients/{patient['id']}").json()["status"] == "confirmed"
        assert len(reach.smtp.sink.to(PATIENTS[0]["email"])) >= 2
        refused = [r for r in rows_of(engine, created[1]["id"]) if r.status == "failed"]
        assert len(refused) == 3  # the e-mail twice (rule, draft), the SMS once (the rule's)
        for r in refused:
            assert PATIENTS[1]["email"] not in (r.error or "") and "7946" not in (r.error or ""), r.error

    new_lines = {path.name: lines_since(path, offsets[path]) for path in logs}
    # The scan holds the scenario: the evaluator logged the events of this practice that the
    # drafts and the confirmed status waited for (each patient's creation and its appointment's).
    evaluated = Counter(
        entry["eventName"]
        for line in new_lines["test-evaluator.log"]
        if (entry := json.loads(line)).get("msg") == "event evaluated"
        and entry["practiceId"] == practice["id"]
    )
    assert evaluated["crm/patient.created"] >= len(PATIENTS), evaluated
    assert evaluated["crm/appointment.created"] >= len(PATIENTS), evaluated
    found = []
    needles = phi_strings()
    for name, service_lines in new_lines.items():
        for number, line in enumerate(service_lines, 1):
            found += [f"{name}: new line {number}: {needle!r}" for needle in needles if needle in line]
    scanned = sum(len(v) for v in new_lines.values())
    print(
        f"\nPHI scan: {scanned} new log lines of {len(logs)} service logs scanned for {len(needles)} strings"
    )
    assert not found, found[:20]
