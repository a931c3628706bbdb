"""``crmflow demo``: one event through the whole running system, as a newcomer sees it.

Creates a demo practice and its two rules through the library, then through the HTTP API a
patient (and waits for the note the welcome rule makes: the same path every user's event takes)
and an appointment in three days (and waits for the reminder rule's run to be waiting, due 24 h
before it). Run twice, it reuses the practice and rules and books a new patient and appointment.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, select

from crmflow.apikeys import create_key, create_practice
from crmflow.db.engine import make_engine
from crmflow.db.tables import practices
from crmflow.rules_repo import create_rule, list_rules
from crmflow.settings import Settings

DEMO_PRACTICE = "Demo Practice"
WELCOME_RULE: dict[str, Any] = {
    "name": "Welcome note for new patients",
    "enabled": True,
    "triggerEvent": "crm/patient.created",
    "conditionsJson": {"field": "patient.email", "operator": "exists"},
    "actionsJson": [
        {
            "type": "create_note",
            "args": {"patientId": "{patientId}", "body": "Welcome {patient.firstName}! (demo rule)"},
        },
    ],
}
REMINDER_RULE: dict[str, Any] = {
    "name": "Reminder the day before an appointment",
    "enabled": True,
    "triggerEvent": "crm/appointment.created",
    "conditionsJson": {"field": "appointment.status", "operator": "equals", "value": "scheduled"},
    "actionsJson": [
        {"type": "delay_until", "args": {"at": "{appointment.startsAt}", "offsetSeconds": -86400}},
        {
            "type": "create_task",
            "args": {"patientId": "{patientId}", "title": "Remind the patient: appointment tomorrow"},
        },
    ],
    "cancelOn": [
        {
            "eventName": "crm/appointment.updated",
            "match": "appointment.id",
            "conditionsJson": {"field": "changes.status", "operator": "changed_to", "value": "cancelled"},
        }
    ],
}
DEMO_RULES = (WELCOME_RULE, REMINDER_RULE)
APPOINTMENT_IN = timedelta(days=3)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def wait_for_rule(settings: Settings, rule_id: str, version: int, deadline: float) -> None:
    """Wait until the evaluator holds the rule (it arrives through crm.rule, not PostgreSQL)."""
    url = f"http://{settings.api_host}:{settings.evaluator_port}/rules/{rule_id}"
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200 and r.json().get("version", 0) >= version:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the evaluator did not receive the demo rule (is it running?)")


def _demo_practice_and_rules(conn: Connection) -> tuple[str, list[dict]]:
    """The demo practice and its rules, created on the first run and reused afterwards."""
    practice_id = conn.execute(
        select(practices.c.id).where(practices.c.name == DEMO_PRACTICE).order_by(practices.c.created_at)
    ).scalar()
    if practice_id is None:
        practice_id = create_practice(conn, DEMO_PRACTICE)
    practice_id = str(practice_id)
    rules = []
    for wanted in DEMO_RULES:
        existing, _ = list_rules(conn, practice_id, trigger=str(wanted["triggerEvent"]))
        rule = next((r for r in existing if r["name"] == wanted["name"]), None)
        rules.append(rule or create_rule(conn, practice_id, wanted))
    return practice_id, rules


def _welcome_note(client: httpx.Client, deadline: float) -> str | None:
    """A new patient and the welcome rule's note on it: the patient's id (None: no note in time)."""
    started = time.monotonic()
    response = client.post(
        "/api/patients", json={"firstName": "Ada", "lastName": "Demo", "email": "ada.demo@example.com"}
    )
    response.raise_for_status()
    patient = response.json()
    _say(f"POST /api/patients -> 201, patient {patient['id']}; waiting for the rule's note ...")
    while time.monotonic() < deadline:
        notes = client.get(f"/api/patients/{patient['id']}/notes").json()
        if notes:
            elapsed = time.monotonic() - started
            _say(f"the rule made this note {elapsed * 1000:.0f} ms after the patient was created:")
            print(notes[0]["body"], flush=True)
            return str(patient["id"])
        time.sleep(0.1)
    _say("no note within the timeout: see `make status` and the logs in .run/logs/")
    return None


def _waiting_runs(client: httpx.Client, rule_id: str) -> set[str]:
    page = client.get("/api/runs", params={"status": "waiting", "ruleId": rule_id, "limit": 200}).json()
    return {run["id"] for run in page["items"]}


def _reminder(client: httpx.Client, rule_id: str, patient_id: str, deadline: float) -> bool:
    """An appointment for the patient, and the reminder rule's run waiting until a day before."""
    before = _waiting_runs(client, rule_id)
    starts_at = (datetime.now(UTC) + APPOINTMENT_IN).replace(minute=0, second=0, microsecond=0)
    response = client.post(
        "/api/appointments",
        json={
            "patientId": patient_id,
            "startsAt": starts_at.isoformat(),
            "visitType": "Checkup",
            "status": "scheduled",
        },
    )
    response.raise_for_status()
    _say(f"POST /api/appointments -> 201, appointment {response.json()['id']} at {starts_at.isoformat()}")
    while time.monotonic() < deadline:
        new = _waiting_runs(client, rule_id) - before
        if new:
            run = client.get(f"/api/runs/{new.pop()}").json()
            due = run["actions"][0]["result"]["dueAt"]
            _say(f"the reminder rule's run {run['id']} is waiting; its create_task is due at {due}")
            return True
        time.sleep(0.1)
    _say("no waiting reminder within the timeout: see `make status` and the logs in .run/logs/")
    return False


def run_demo(settings: Settings, *, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    with make_engine(settings, pool_size=1).begin() as conn:
        practice_id, rules = _demo_practice_and_rules(conn)
        api_key = create_key(conn, practice_id, settings.api_key_secret)
    for rule in rules:
        _say(f"demo practice {practice_id}, rule {rule['id']}: {rule['name']}")
        wait_for_rule(settings, rule["id"], rule["version"], deadline)
    base = f"http://{settings.api_host}:{settings.api_port}"
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        patient_id = _welcome_note(client, deadline)
        if patient_id is None or not _reminder(client, rules[1]["id"], patient_id, deadline):
            return 1
    _say(f"try it yourself: export CRMFLOW_API_KEY={api_key}")
    return 0
