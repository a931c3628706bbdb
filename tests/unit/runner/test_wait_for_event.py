"""The executor's side of wait_for_event and ``when`` without a database: how a resumed wait ends
(the awaited event, a timeout that continues or stops) and actions whose ``when`` is false."""

from __future__ import annotations

from typing import Any

import pytest

from crmflow.db.tables import action_executions, automation_action_logs
from crmflow.statuses import ActionStatus, RunStatus
from crmflow_runner.errors import PermanentActionError
from crmflow_runner.executor import Executor, RunOutcome, WaitEnd
from crmflow_runner.run_context import RunContext
from tests.support.runner import note
from tests.support.runner import wait_for_patient_update as wait
from tests.unit.runner.offline import context_for, patient_json
from tests.unit.runner.test_executor import Notes, logs


def when(action: dict[str, Any], condition: Any) -> dict[str, Any]:
    return {**action, "when": condition}


ABSENT = {"field": "waitedEvent", "operator": "not_exists"}
PRESENT = {"field": "waitedEvent", "operator": "exists"}


def resume(
    actions: list[dict[str, Any]], end: WaitEnd | None, waited: dict[str, Any] | None = None
) -> tuple[RunOutcome, RunContext, Notes]:
    """Run ``actions`` from the one after the wait at ``end.index`` (as a claimed resume does)."""
    notes = Notes()
    ctx = context_for(patient_json(), actions)
    if waited is not None:
        ctx.set_waited_event(waited)
    start = 0 if end is None else end.index + 1
    outcome = Executor({"create_note": notes})._run_actions(ctx, start, set(), end)
    return outcome, ctx, notes


EVENT = {"id": "e2", "name": "crm/patient.updated", "data": {"patient": {"id": "x", "status": "confirmed"}}}


def test_an_awaited_event_resumes_the_run_and_later_actions_see_it() -> None:
    actions = [wait(), when(note("call"), ABSENT), when(note("{waitedEvent.data.patient.status}"), PRESENT)]
    outcome, ctx, notes = resume(actions, WaitEnd(0, EVENT), waited=EVENT)
    assert outcome == RunOutcome(ctx.run_id, RunStatus.SUCCEEDED)
    assert notes.bodies == ["confirmed"]
    assert logs(ctx) == [
        (0, "wait_for_event", ActionStatus.SUCCEEDED),
        (1, "create_note", ActionStatus.SKIPPED),
        (2, "create_note", ActionStatus.SUCCEEDED),
    ]
    rows = ctx.writes.rows[automation_action_logs]
    assert rows[0]["result"] == {"waitedEventId": "e2"}
    assert rows[1]["error"] == "when_false"
    # A skipped action is done: a redelivery does not decide again.
    assert [r["action_index"] for r in ctx.writes.rows[action_executions]] == [1, 2]


def test_a_timeout_that_continues_runs_the_later_actions_without_waited_event() -> None:
    actions = [wait(), when(note("call"), ABSENT), note("{waitedEvent.id}")]
    outcome, ctx, notes = resume(actions, WaitEnd(0, None))
    assert notes.bodies == ["call"]
    assert outcome.status == RunStatus.FAILED and "waitedEvent" in str(outcome.error)
    assert ctx.writes.rows[automation_action_logs][0]["result"] == {"timedOut": True, "onTimeout": "continue"}


def test_a_timeout_that_stops_ends_the_run_succeeded_with_the_rest_skipped() -> None:
    actions = [note("before"), wait("stop"), note("a"), note("b")]
    outcome, ctx, notes = resume(actions, WaitEnd(1, None))
    assert outcome == RunOutcome(ctx.run_id, RunStatus.SUCCEEDED)
    assert notes.bodies == []
    assert logs(ctx) == [
        (1, "wait_for_event", ActionStatus.SUCCEEDED),
        (2, "create_note", ActionStatus.SKIPPED),
        (3, "create_note", ActionStatus.SKIPPED),
    ]
    rows = ctx.writes.rows[automation_action_logs]
    assert rows[0]["result"] == {"timedOut": True, "onTimeout": "stop"}
    assert {r["error"] for r in rows[1:]} == {"skipped: wait_timed_out"}


def test_a_stop_wait_taking_an_event_goes_on() -> None:
    outcome, _, notes = resume([wait("stop"), note("a")], WaitEnd(0, EVENT), waited=EVENT)
    assert outcome.status == RunStatus.SUCCEEDED and notes.bodies == ["a"]


def test_when_on_the_triggering_event_and_on_a_delay() -> None:
    actions = [
        when(note("no"), {"field": "patient.firstName", "operator": "equals", "value": "Bob"}),
        when(note("yes"), {"field": "patient.firstName", "operator": "equals", "value": "Ann"}),
        when({"type": "delay_seconds", "args": {"seconds": 5}}, PRESENT),
        note("end"),
    ]
    outcome, ctx, notes = resume(actions, None)
    assert outcome.status == RunStatus.SUCCEEDED
    assert notes.bodies == ["yes", "end"]
    assert [status for _, _, status in logs(ctx)] == ["skipped", "succeeded", "skipped", "succeeded"]


def test_waited_event_in_the_data_is_not_taken_for_the_awaited_one() -> None:
    ctx = context_for(patient_json(), [note("x")])
    ctx.command["event"]["data"]["waitedEvent"] = {"id": "fake"}
    fresh = type(ctx)(ctx.command, ctx.writes, ctx.patients)
    assert "waitedEvent" not in fresh.context


def test_a_when_that_cannot_compile_fails_the_action() -> None:
    with pytest.raises(PermanentActionError):
        Executor._when_holds(context_for(patient_json(), []), 0, "create_note", {"when": {"operator": "?"}})
