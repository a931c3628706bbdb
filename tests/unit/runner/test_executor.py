"""The executor's run logic: the actions it runs, skips and schedules, and the rows it defers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from crmflow.commands import run_command_key
from crmflow.db.tables import action_executions, automation_action_logs, scheduled_resumes
from crmflow.statuses import ActionStatus, RunStatus
from crmflow_runner.errors import PermanentActionError
from crmflow_runner.executor import Executor, RunOutcome
from crmflow_runner.run_context import RunContext
from tests.support.runner import delay, note
from tests.unit.runner.offline import NOW, PRACTICE, context_for, patient_json


class Notes:
    """A create_note handler that records the bodies it was given (or refuses a marked one)."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def __call__(self, ctx: RunContext, args: Any) -> dict[str, Any]:
        if args.body == "refuse":
            raise PermanentActionError("refused")
        self.bodies.append(args.body)
        return {"n": len(self.bodies)}


def run(
    patient: dict[str, Any], actions: list[dict[str, Any]], *, start: int = 0, done: set[int] | None = None
) -> tuple[RunOutcome, RunContext, Notes]:
    notes = Notes()
    ctx = context_for(patient, actions)
    outcome = Executor({"create_note": notes})._run_actions(
        ctx, start, {(ctx.run_id, i) for i in done or set()}
    )
    return outcome, ctx, notes


def logs(ctx: RunContext) -> list[tuple[int, str, str]]:
    return [
        (r["action_index"], r["action_type"], r["status"]) for r in ctx.writes.rows[automation_action_logs]
    ]


def test_actions_run_in_order_with_rendered_args_logs_and_keys() -> None:
    patient = patient_json()
    outcome, ctx, notes = run(patient, [note("Hi {patient.firstName}"), note("two")])
    assert outcome == RunOutcome(ctx.run_id, RunStatus.SUCCEEDED)
    assert notes.bodies == ["Hi Ann", "two"]
    assert logs(ctx) == [(0, "create_note", "succeeded"), (1, "create_note", "succeeded")]
    first = ctx.writes.rows[automation_action_logs][0]
    assert (first["result"], first["attempt"], first["practice_id"]) == ({"n": 1}, 1, PRACTICE)
    assert first["args"]["patientId"] == patient["id"]
    assert [r["action_index"] for r in ctx.writes.rows[action_executions]] == [0, 1]


def test_done_actions_are_not_run_again() -> None:
    patient = patient_json()
    outcome, ctx, notes = run(patient, [note("a"), note("b"), note("c")], done={0, 2})
    assert outcome.status == RunStatus.SUCCEEDED
    assert notes.bodies == ["b"]
    assert logs(ctx) == [(1, "create_note", "succeeded")]


def test_a_failed_action_fails_the_run_and_skips_the_rest() -> None:
    patient = patient_json()
    outcome, ctx, notes = run(patient, [note("a"), note("refuse"), note("c"), delay(5)])
    assert outcome == RunOutcome(ctx.run_id, RunStatus.FAILED, "action 1 (create_note): refused", 1)
    assert notes.bodies == ["a"]
    assert logs(ctx) == [
        (0, "create_note", ActionStatus.SUCCEEDED),
        (1, "create_note", ActionStatus.FAILED),
        (2, "create_note", ActionStatus.SKIPPED),
        (3, "delay_seconds", ActionStatus.SKIPPED),
    ]
    assert ctx.writes.rows[automation_action_logs][2]["error"] == "skipped: action 1 failed"
    assert [r["action_index"] for r in ctx.writes.rows[action_executions]] == [0]  # no key: retried never


def test_unknown_types_and_unresolved_placeholders_fail_the_action() -> None:
    patient = patient_json()
    outcome, _, _ = run(patient, [{"type": "send_fax", "args": {}}])
    assert outcome.error == "action 0 (send_fax): unknown action type 'send_fax'"
    outcome, _, notes = run(patient, [note("{patient.nickname}")])
    assert outcome.status == RunStatus.FAILED and "patient.nickname" in str(outcome.error)
    assert notes.bodies == []


def test_a_delay_parks_the_rest_of_the_run_under_the_runs_key() -> None:
    patient = patient_json()
    outcome, ctx, notes = run(patient, [note("a"), delay(30), note("c")])
    assert outcome == RunOutcome(ctx.run_id, RunStatus.WAITING)
    assert notes.bodies == ["a"]
    (resume,) = ctx.writes.rows[scheduled_resumes]
    assert resume == {
        "run_id": ctx.run_id,
        "action_index": 2,
        "practice_id": PRACTICE,
        "due_at": NOW + timedelta(seconds=30),
        "command": ctx.command,
        "command_key": run_command_key(ctx.command).decode(),
        "status": "pending",
        "rule_id": ctx.command["ruleId"],
        "bound_entity_id": None,  # delay_seconds follows no field
        "binding": None,
        "cancel_keys": None,  # the rule has no cancelOn
        "wait_key": None,  # not a wait_for_event
    }
    assert resume["command_key"] == f"{PRACTICE}:{patient['id']}"
    assert logs(ctx)[1] == (1, "delay_seconds", "scheduled")
    assert ctx.writes.rows[automation_action_logs][1]["result"] == {"dueAt": resume["due_at"].isoformat()}


def test_a_resumed_run_starts_after_its_delay() -> None:
    patient = patient_json()
    outcome, ctx, notes = run(patient, [note("a"), delay(30), note("c")], start=2)
    assert outcome.status == RunStatus.SUCCEEDED
    assert notes.bodies == ["c"]
    assert logs(ctx) == [(2, "create_note", "succeeded")]
