"""wait_for_event in the executor against real PostgreSQL (SPEC section 13): a run and the event it
awaits executed by two transactions at once, in both orders, never lose the event; an event that
occurred before the triggering one never counts; a redelivered signal changes nothing; a resumed
wait continues with waitedEvent, a timed-out one as onTimeout says."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, text

from crmflow.commands import ResumeCommandDict, RunCommandDict, SignalCommandDict
from crmflow.crm.entities import create_patient
from crmflow.wait_for_event import wait_key, waited_event
from crmflow_runner.executor import Executor
from crmflow_runner.handlers import build_handlers
from tests.support.runner import note, note_bodies, rows, run_status
from tests.support.runner import run_command as command
from tests.support.runner import wait_for_patient_update as wait

pytestmark = pytest.mark.integration

TRIGGERED_AT = "2026-11-25T10:00:00+00:00"  # run_command's event


@pytest.fixture
def executor(settings: Any) -> Executor:
    return Executor(build_handlers(settings.patient_field_allowlist))


@pytest.fixture
def patient(engine: Engine, practice: dict[str, str]) -> dict[str, Any]:
    with engine.begin() as conn:
        return create_patient(conn, practice["id"], {"firstName": "Ann", "lastName": "Lee"})


def signal_for(
    run: RunCommandDict, patient: dict[str, Any], occurred_at: str, event_id: str
) -> SignalCommandDict:
    envelope = {
        "id": event_id,
        "name": "crm/patient.updated",
        "occurredAt": occurred_at,
        "entityType": "patient",
        "entityId": patient["id"],
        "data": {"patient": {**patient, "status": "confirmed"}},
    }
    return {
        "kind": "signal",
        "practiceId": run["practiceId"],
        "ruleId": run["ruleId"],
        "actionIndex": 0,
        "waitKey": wait_key(0, patient["id"]),
        "eventId": event_id,
        "occurredAt": occurred_at,
        "event": waited_event(envelope),
    }


def resume_of(run: RunCommandDict) -> ResumeCommandDict:
    return {"kind": "resume", "runId": run["runId"], "actionIndex": 1, "practiceId": run["practiceId"]}


def execute(engine: Engine, executor: Executor, commands: list[Any]) -> list[Any]:
    with engine.begin() as conn:
        return executor.execute(conn, commands)


def waiting_row(engine: Engine, run_id: str) -> Any:
    [row] = rows(
        engine, "SELECT status, waited_event, wait_key FROM scheduled_resumes WHERE run_id = :r", r=run_id
    )
    return row


def concurrently(engine: Engine, executor: Executor, first: list[Any], second: list[Any]) -> None:
    """``first`` executes in a transaction left open while ``second`` starts in another thread,
    then commits: ``second`` runs against ``first``'s uncommitted rows, as two runners would."""
    errors: list[BaseException] = []
    with engine.connect() as conn:
        with conn.begin():
            executor.execute(conn, first)

            def other() -> None:
                try:
                    execute(engine, executor, second)
                except BaseException as exc:  # reported below
                    errors.append(exc)

            thread = threading.Thread(target=other)
            thread.start()
            time.sleep(0.5)  # the other transaction is now waiting for the wait key's lock
            assert thread.is_alive(), "the second transaction did not wait for the first"
        thread.join(10)
    assert not errors, errors


def test_an_event_recorded_while_the_run_parks_resumes_it(
    engine: Engine, executor: Executor, practice: dict[str, str], patient: dict[str, Any]
) -> None:
    run = command(practice["id"], patient, [wait(), note("got {waitedEvent.data.patient.status}")])
    signal = signal_for(
        run, patient, "2026-11-25T10:00:00.050000+00:00", "11111111-1111-4111-8111-111111111111"
    )
    concurrently(engine, executor, [run], [signal])
    row = waiting_row(engine, run["runId"])
    assert (row.status, row.waited_event["id"]) == ("pending", signal["eventId"])
    assert run_status(engine, run["runId"]) == "waiting"
    [outcome] = execute(engine, executor, [resume_of(run)])
    assert outcome.status == "succeeded"
    assert note_bodies(engine, run["runId"]) == ["got confirmed"]
    logs = rows(
        engine,
        "SELECT action_index, status, result FROM automation_action_logs WHERE run_id = :r "
        "ORDER BY created_at",
        r=run["runId"],
    )
    assert [(x.action_index, x.status) for x in logs] == [
        (0, "scheduled"),
        (0, "succeeded"),
        (1, "succeeded"),
    ]
    assert logs[1].result == {"waitedEventId": signal["eventId"]}


def test_a_run_reaching_its_wait_while_the_event_is_recorded_takes_it(
    engine: Engine, executor: Executor, practice: dict[str, str], patient: dict[str, Any]
) -> None:
    run = command(practice["id"], patient, [wait(), note("got {waitedEvent.id}")])
    signal = signal_for(
        run, patient, "2026-11-25T10:00:00.050000+00:00", "22222222-2222-4222-8222-222222222222"
    )
    concurrently(engine, executor, [signal], [run])
    assert run_status(engine, run["runId"]) == "succeeded"
    assert note_bodies(engine, run["runId"]) == [f"got {signal['eventId']}"]
    assert rows(engine, "SELECT 1 FROM scheduled_resumes WHERE run_id = :r", r=run["runId"]) == []


def test_only_events_after_the_trigger_count_and_a_redelivered_signal_changes_nothing(
    engine: Engine, executor: Executor, practice: dict[str, str], patient: dict[str, Any]
) -> None:
    run = command(practice["id"], patient, [wait("stop"), note()])
    before = signal_for(run, patient, "2026-11-25T09:59:59+00:00", "33333333-3333-4333-8333-333333333333")
    same = signal_for(run, patient, TRIGGERED_AT, "44444444-4444-4444-8444-444444444444")
    execute(engine, executor, [before, same, run, before])
    assert run_status(engine, run["runId"]) == "waiting"
    assert waiting_row(engine, run["runId"]).waited_event is None
    count = "SELECT count(*) AS n FROM awaited_signals WHERE rule_id = :r"
    assert rows(engine, count, r=run["ruleId"])[0].n == 2
    # The timeout: onTimeout stop ends the run succeeded, the note logged skipped.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE scheduled_resumes SET due_at = now() WHERE run_id = :r"), {"r": run["runId"]}
        )
    [outcome] = execute(engine, executor, [resume_of(run)])
    assert outcome.status == "succeeded"
    assert note_bodies(engine, run["runId"]) == []
    logs = rows(
        engine,
        "SELECT action_index, status, error FROM automation_action_logs WHERE run_id = :r "
        "ORDER BY created_at",
        r=run["runId"],
    )
    assert [(x.action_index, x.status, x.error) for x in logs] == [
        (0, "scheduled", None),
        (0, "succeeded", None),
        (1, "skipped", "skipped: wait_timed_out"),
    ]
    # A late event changes nothing; a second resume does nothing.
    after = signal_for(run, patient, "2026-11-25T11:00:00+00:00", "55555555-5555-4555-8555-555555555555")
    assert execute(engine, executor, [after, resume_of(run)]) == []
    assert waiting_row(engine, run["runId"]).status == "done"
