"""SPEC section 13's headline through the real pipeline: "wait for the patient to confirm, else
create a call task" as one rule (wait_for_event + when), the awaited event never lost when it
comes right after the triggering one (inngest/inngest#1433), and a wait surviving a runner restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.support.pipeline import evaluated, runs_of
from tests.support.processes import Service, wait_for
from tests.support.rules import create_rule

pytestmark = pytest.mark.e2e

CONFIRMED = {"field": "appointment.status", "operator": "equals", "value": "confirmed"}


def confirmation_rule(
    api: httpx.Client, evaluator: Service, timeout_seconds: int, before: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """On a new appointment: wait for its confirmation; no confirmation -> a call task;
    a confirmation -> a note naming the confirmed appointment (waitedEvent in a placeholder)."""
    return create_rule(
        api,
        evaluator,
        triggerEvent="crm/appointment.created",
        actionsJson=[
            *(before or []),
            {
                "type": "wait_for_event",
                "args": {
                    "eventName": "crm/appointment.updated",
                    "match": "appointment.id",
                    "conditionsJson": CONFIRMED,
                    "timeoutSeconds": timeout_seconds,
                    "onTimeout": "continue",
                },
            },
            {
                "type": "create_task",
                "args": {"title": "Call to confirm", "patientId": "{patientId}"},
                "when": {"field": "waitedEvent", "operator": "not_exists"},
            },
            {
                "type": "create_note",
                "args": {"patientId": "{patientId}", "body": "confirmed {waitedEvent.data.appointment.id}"},
                "when": {
                    "field": "waitedEvent.data.appointment.status",
                    "operator": "equals",
                    "value": "confirmed",
                },
            },
        ],
    )


def book(api: httpx.Client, patient_id: str) -> dict[str, Any]:
    body = {
        "patientId": patient_id,
        "startsAt": "2031-01-02T09:00:00Z",
        "visitType": "Checkup",
        "status": "scheduled",
    }
    response = api.post("/api/appointments", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def confirm(api: httpx.Client, appointment_id: str) -> None:
    response = api.patch(f"/api/appointments/{appointment_id}", json={"status": "confirmed"})
    assert response.status_code == 200, response.text


def run_of(engine: Engine, rule_id: str, appointment_id: str) -> Any:
    [event] = evaluated(engine, appointment_id, "crm/appointment.created", timeout=30)
    [run] = [r for r in runs_of(engine, event.id) if r.rule_id == rule_id]
    return run


def effects(engine: Engine, run_id: Any) -> tuple[int, list[str]]:
    """(tasks of the run, bodies of its notes)."""
    with engine.connect() as conn:
        tasks = conn.execute(text("SELECT count(*) FROM tasks WHERE run_id = :r"), {"r": run_id}).scalar_one()
        notes = conn.execute(text("SELECT body FROM notes WHERE run_id = :r"), {"r": run_id}).scalars().all()
    return tasks, list(notes)


def status_is(api: httpx.Client, run_id: Any, status: str) -> Callable[[], bool]:
    return lambda: api.get(f"/api/runs/{run_id}").json()["status"] == status


def test_a_confirmation_ends_the_wait_and_no_task_is_created(
    api: httpx.Client, services: dict[str, Service], engine: Engine
) -> None:
    rule = confirmation_rule(api, services["evaluator"], timeout_seconds=60)
    patient = api.post("/api/patients", json={"firstName": "Wai", "lastName": "Ting"}).json()
    appointment = book(api, patient["id"])
    run = run_of(engine, rule["id"], appointment["id"])
    wait_for(status_is(api, run.id, "waiting"), 15, what="the run to wait")
    started = time.monotonic()

    confirm(api, appointment["id"])
    wait_for(status_is(api, run.id, "succeeded"), 20, what="the confirmation to resume the run")
    assert time.monotonic() - started < 20, "resumed by the timeout, not by the event"
    assert effects(engine, run.id) == (0, [f"confirmed {appointment['id']}"])
    [confirmation] = evaluated(engine, appointment["id"], "crm/appointment.updated")
    logs = [(a["index"], a["type"], a["status"]) for a in api.get(f"/api/runs/{run.id}").json()["actions"]]
    assert logs == [
        (0, "wait_for_event", "scheduled"),
        (0, "wait_for_event", "succeeded"),
        (1, "create_task", "skipped"),
        (2, "create_note", "succeeded"),
    ]
    actions = api.get(f"/api/runs/{run.id}").json()["actions"]
    assert actions[1]["result"] == {"waitedEventId": str(confirmation.id)}
    assert actions[2]["error"] == "when_false"


def test_without_a_confirmation_the_timeout_creates_exactly_one_task(
    api: httpx.Client, services: dict[str, Service], engine: Engine
) -> None:
    rule = confirmation_rule(api, services["evaluator"], timeout_seconds=3)
    patient = api.post("/api/patients", json={"firstName": "No", "lastName": "Reply"}).json()
    appointment = book(api, patient["id"])
    # An update that is not a confirmation does not end the wait.
    assert (
        api.patch(f"/api/appointments/{appointment['id']}", json={"visitType": "Cleaning"}).status_code == 200
    )
    run = run_of(engine, rule["id"], appointment["id"])
    wait_for(status_is(api, run.id, "succeeded"), 30, what="the timeout")
    assert effects(engine, run.id) == (1, [])
    actions = api.get(f"/api/runs/{run.id}").json()["actions"]
    assert actions[1]["result"] == {"timedOut": True, "onTimeout": "continue"}
    assert [a["status"] for a in actions[2:]] == ["succeeded", "skipped"]
    time.sleep(2)  # nothing more happens (no second task from a second resume)
    assert effects(engine, run.id) == (1, [])


def test_a_confirmation_right_after_the_booking_is_never_lost(
    api: httpx.Client, services: dict[str, Service], engine: Engine
) -> None:
    """100 appointments, each confirmed ~50 ms after its booking: every run of both rules resumes
    by its confirmation. The second rule waits after a delay, so its confirmations always reach the
    runner before its wait begins (the recorded-signal path); the first mostly after."""
    direct = confirmation_rule(api, services["evaluator"], timeout_seconds=90)
    delayed = confirmation_rule(
        api,
        services["evaluator"],
        timeout_seconds=90,
        before=[{"type": "delay_seconds", "args": {"seconds": 2}}],
    )
    patient = api.post("/api/patients", json={"firstName": "Ra", "lastName": "Ce"}).json()

    def book_and_confirm(_: int) -> str:
        appointment = book(api, patient["id"])
        time.sleep(0.05)
        confirm(api, appointment["id"])
        return str(appointment["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        appointments = list(pool.map(book_and_confirm, range(100)))

    runs = [run_of(engine, rule["id"], a) for a in appointments for rule in (direct, delayed)]
    ids = [str(r.id) for r in runs]

    def finished() -> bool:
        with engine.connect() as conn:
            statuses = conn.execute(
                text("SELECT status FROM automation_runs WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
            ).scalars()
            return all(s == "succeeded" for s in statuses)

    wait_for(finished, 80, 0.5, "every run to resume")
    with engine.connect() as conn:
        tasks = conn.execute(
            text("SELECT count(*) FROM tasks WHERE run_id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
        ).scalar_one()
        notes = conn.execute(
            text("SELECT count(*) FROM notes WHERE run_id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
        ).scalar_one()
    assert (tasks, notes) == (0, 200), "a confirmation was lost (a run timed out) or one ran twice"


def test_a_wait_survives_a_runner_restart(
    api: httpx.Client, services: dict[str, Service], engine: Engine
) -> None:
    rule = confirmation_rule(api, services["evaluator"], timeout_seconds=60)
    patient = api.post("/api/patients", json={"firstName": "Re", "lastName": "Start"}).json()
    appointment = book(api, patient["id"])
    run = run_of(engine, rule["id"], appointment["id"])
    wait_for(status_is(api, run.id, "waiting"), 15, what="the run to wait")
    runner = services["runner"]
    runner.kill()
    try:
        confirm(api, appointment["id"])  # arrives while no runner runs
        time.sleep(1)
    finally:
        runner.start()
    wait_for(status_is(api, run.id, "succeeded"), 30, what="the restarted runner to resume the wait")
    assert effects(engine, run.id) == (0, [f"confirmed {appointment['id']}"])
