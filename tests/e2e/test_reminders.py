"""The headline of SPEC section 8 through the real pipeline: a reminder a day before each
appointment, moved when the appointment moves, never sent when it is cancelled."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.support.pipeline import evaluated, runs_of
from tests.support.processes import Service, wait_for
from tests.support.rules import create_rule

pytestmark = pytest.mark.e2e

DAY = timedelta(days=1)


# Seconds from the test's start to the reminders' due times: the moved one's old time comes first,
# then the untouched one's, then the moved one's new time. Wide enough that booking three
# appointments and re-planning one finish before the first is due on a loaded machine (CI missed
# the 'waiting' state with 4-9 s).
MOVED_FROM, KEPT, MOVED_TO = 15, 20, 30


def db_now(engine: Engine) -> datetime:
    with engine.connect() as conn:
        return conn.execute(text("SELECT clock_timestamp()")).scalar_one()


def notes_of(engine: Engine, run_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT body, created_at FROM notes WHERE run_id = :r"), {"r": run_id}))


def test_a_reminder_fires_moves_with_its_appointment_and_never_fires_once_cancelled(
    api: httpx.Client, services: dict[str, Service], engine: Engine
) -> None:
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent="crm/appointment.created",
        actionsJson=[
            {"type": "delay_until", "args": {"at": "{appointment.startsAt}", "offsetSeconds": -86400}},
            {"type": "create_note", "args": {"patientId": "{patientId}", "body": "Reminder: tomorrow"}},
        ],
        cancelOn=[
            {
                "eventName": "crm/appointment.updated",
                "match": "appointment.id",
                "conditionsJson": {"field": "changes.status", "operator": "changed_to", "value": "cancelled"},
            }
        ],
    )
    assert rule["cancelOn"][0]["match"] == "appointment.id"
    patient = api.post("/api/patients", json={"firstName": "Rem", "lastName": "Inder"}).json()
    now = db_now(engine)

    def book(in_seconds: int) -> tuple[dict[str, Any], Any]:
        body = {
            "patientId": patient["id"],
            "startsAt": (now + DAY + timedelta(seconds=in_seconds)).isoformat(),
            "visitType": "Checkup",
            "status": "scheduled",
        }
        appointment = api.post("/api/appointments", json=body).json()
        [event] = evaluated(engine, appointment["id"], "crm/appointment.created")
        [run] = [r for r in runs_of(engine, event.id) if r.rule_id == rule["id"]]
        return appointment, run

    _, kept_run = book(KEPT)
    moved, moved_run = book(MOVED_FROM)
    cancelled, cancelled_run = book(KEPT)

    def waiting(run_id: str) -> bool:
        return api.get(f"/api/runs/{run_id}").json()["status"] == "waiting"

    for run in (kept_run, moved_run, cancelled_run):
        wait_for(partial(waiting, run.id), MOVED_FROM, what="waiting")
    first = api.get(f"/api/runs/{kept_run.id}").json()["actions"][0]
    assert (first["type"], first["status"]) == ("delay_until", "scheduled")
    assert datetime.fromisoformat(first["result"]["dueAt"]) == now + timedelta(seconds=KEPT)

    new_start = now + DAY + timedelta(seconds=MOVED_TO)
    assert (
        api.patch(f"/api/appointments/{moved['id']}", json={"startsAt": new_start.isoformat()}).status_code
        == 200
    )
    assert api.patch(f"/api/appointments/{cancelled['id']}", json={"status": "cancelled"}).status_code == 200

    def rescheduled() -> dict[str, Any] | None:
        logs = api.get(f"/api/runs/{moved_run.id}").json()["actions"]
        return next((a for a in logs if a["status"] == "rescheduled"), None)

    log = wait_for(rescheduled, MOVED_FROM, what="the re-plan")
    assert datetime.fromisoformat(log["result"]["from"]) == now + timedelta(seconds=MOVED_FROM)
    assert datetime.fromisoformat(log["result"]["to"]) == now + timedelta(seconds=MOVED_TO)
    wait_for(
        lambda: api.get(f"/api/runs/{cancelled_run.id}").json()["status"] == "cancelled", 10, what="cancel"
    )
    detail = api.get(f"/api/runs/{cancelled_run.id}").json()
    [cancelling] = evaluated(engine, cancelled["id"], "crm/appointment.updated")
    assert detail["actions"][-1]["status"] == "skipped"
    assert detail["actions"][-1]["error"] == f"cancelled by event {cancelling.id}"
    listed = api.get("/api/runs", params={"status": "cancelled"}).json()["items"]
    assert [r["id"] for r in listed] == [str(cancelled_run.id)]

    wait_for(lambda: notes_of(engine, kept_run.id), KEPT + 20, what="the reminder")
    [note] = notes_of(engine, kept_run.id)
    assert note.created_at >= now + timedelta(seconds=KEPT)
    assert notes_of(engine, moved_run.id) == [], "the moved reminder fired at its old time"
    wait_for(lambda: notes_of(engine, moved_run.id), MOVED_TO + 20, what="the moved reminder")
    assert notes_of(engine, moved_run.id)[0].created_at >= new_start - DAY
    assert notes_of(engine, cancelled_run.id) == []
    assert api.get(f"/api/runs/{cancelled_run.id}").json()["status"] == "cancelled"


def test_timed_rules_are_validated_at_their_fields_and_kept_by_a_partial_update(
    api: httpx.Client, services: dict[str, Service]
) -> None:
    body: dict[str, Any] = {
        "name": "bad reminder",
        "triggerEvent": "crm/appointment.created",
        "actionsJson": [{"type": "delay_until", "args": {"at": "tomorrow", "atLocalTime": "9am"}}],
        "cancelOn": [{"eventName": "crm/appointment.updated", "match": "appointment.nope"}],
    }
    response = api.post("/api/automations", json=body)
    assert response.status_code == 422
    locs = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert {
        ("body", "actionsJson", 0, "args", "at"),
        ("body", "actionsJson", 0, "args", "atLocalTime"),
        ("body", "cancelOn", 0, "match"),
    } <= locs
    cancel_on = [{"eventName": "crm/appointment.updated", "match": "appointment.id"}]
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent="crm/appointment.created",
        actionsJson=[{"type": "delay_until", "args": {"at": "{appointment.startsAt}"}}],
        cancelOn=cancel_on,
    )
    renamed = api.patch(f"/api/automations/{rule['id']}", json={"name": "renamed"}).json()
    assert renamed["cancelOn"] == cancel_on and renamed["version"] == rule["version"] + 1
    cleared = api.patch(f"/api/automations/{rule['id']}", json={"cancelOn": None}).json()
    assert cleared["cancelOn"] is None
