"""``crmflow demo``: one event through the whole running system, as a newcomer sees it.

Creates a demo practice and rule through the library, a patient through the HTTP API, and waits
for the note the rule makes — the same path every user's event takes.
"""

from __future__ import annotations

import sys
import time

import httpx
from sqlalchemy import Connection, select

from crmflow.apikeys import create_key, create_practice
from crmflow.db.engine import make_engine
from crmflow.db.tables import practices
from crmflow.rules_repo import create_rule, list_rules
from crmflow.settings import Settings

DEMO_PRACTICE = "Demo Practice"
DEMO_RULE = {
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


def _demo_practice_and_rule(conn: Connection) -> tuple[str, dict]:
    """The demo practice and rule, created on the first run and reused afterwards."""
    practice_id = conn.execute(
        select(practices.c.id).where(practices.c.name == DEMO_PRACTICE).order_by(practices.c.created_at)
    ).scalar()
    if practice_id is None:
        practice_id = create_practice(conn, DEMO_PRACTICE)
    practice_id = str(practice_id)
    rules, _ = list_rules(conn, practice_id, trigger=str(DEMO_RULE["triggerEvent"]))
    rule = next((r for r in rules if r["name"] == DEMO_RULE["name"]), None)
    return practice_id, rule or create_rule(conn, practice_id, DEMO_RULE)


def run_demo(settings: Settings, *, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    with make_engine(settings, pool_size=1).begin() as conn:
        practice_id, rule = _demo_practice_and_rule(conn)
        api_key = create_key(conn, practice_id, settings.api_key_secret)
    _say(f"demo practice {practice_id}, rule {rule['id']}: {rule['name']}")
    wait_for_rule(settings, rule["id"], rule["version"], deadline)
    base = f"http://{settings.api_host}:{settings.api_port}"
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        started = time.monotonic()
        response = client.post(
            "/api/patients",
            json={
                "firstName": "Ada",
                "lastName": "Demo",
                "email": "ada.demo@example.com",
            },
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
                _say(f"try it yourself: export CRMFLOW_API_KEY={api_key}")
                return 0
            time.sleep(0.1)
    _say("no note within the timeout: see `make status` and the logs in .run/logs/")
    return 1
