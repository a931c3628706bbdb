"""delay_until in the runner (SPEC section 8): the due time, the decision against the database
clock, the rows a waiting run leaves for re-plans and cancels."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection

from crmflow.commands import RunCommandDict
from crmflow.db.tables import action_executions, automation_action_logs, scheduled_resumes
from crmflow.statuses import ActionStatus, RunStatus
from crmflow_runner.executor import Executor, RunOutcome
from crmflow_runner.run_context import DeferredWrites, PracticeZones
from tests.support.runner import note
from tests.unit.runner.offline import NOW, PRACTICE, ClockedContext, context_for, patient_json


def appointment_context(starts_at: str, actions: list[dict[str, Any]], zone: str = "UTC") -> ClockedContext:
    """A matched run of ``actions`` for a crm/appointment.created event, the practice in ``zone``."""
    patient = patient_json()
    base = context_for(patient, actions)
    appointment = {"id": str(uuid.uuid4()), "patientId": patient["id"], "startsAt": starts_at}
    event = {
        **(base.command.get("event") or {}),
        "name": "crm/appointment.created",
        "entityType": "appointment",
        "entityId": appointment["id"],
        "data": {"appointment": appointment, "patient": patient},
    }
    command = cast(
        RunCommandDict, {**base.command, "event": event, "cancelKeys": [f'0:"{appointment["id"]}"']}
    )
    zones = PracticeZones(cast(Connection, None))
    zones.put(PRACTICE, zone)
    return ClockedContext(command, DeferredWrites(), base.patients, zones=zones)


def until(at: str = "{appointment.startsAt}", **args: Any) -> dict[str, Any]:
    return {"type": "delay_until", "args": {"at": at, **args}}


def run(ctx: ClockedContext) -> RunOutcome:
    return Executor({"create_note": lambda c, a: {}})._run_actions(ctx, 0, set())


def logs(ctx: ClockedContext) -> list[tuple[int, str, str, Any, Any]]:
    return [
        (r["action_index"], r["action_type"], r["status"], r["result"], r["error"])
        for r in ctx.writes.rows[automation_action_logs]
    ]


def test_a_day_before_at_nine_local_waits_until_then_and_follows_the_field() -> None:
    # 2027-03-29 10:00 Berlin is summer time (UTC+2): a day before at 09:00 is 07:00 UTC.
    ctx = appointment_context(
        "2027-03-29T08:00:00Z", [until(offsetSeconds=-86400, atLocalTime="09:00"), note("x")], "Europe/Berlin"
    )
    assert run(ctx) == RunOutcome(ctx.run_id, RunStatus.WAITING)
    (resume,) = ctx.writes.rows[scheduled_resumes]
    assert resume["due_at"] == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)  # the day of the change
    assert resume["action_index"] == 1
    assert resume["rule_id"] == ctx.command["ruleId"]
    assert resume["bound_entity_id"] == ctx.context["entityId"]
    assert resume["binding"] == {
        "entityType": "appointment",
        "field": "startsAt",
        "offsetSeconds": -86400,
        "atLocalTime": "09:00",
        "ifPast": "run",
    }
    assert resume["cancel_keys"] == ctx.command["cancelKeys"]
    assert logs(ctx) == [(0, "delay_until", "scheduled", {"dueAt": "2027-03-28T07:00:00+00:00"}, None)]
    assert [r["action_index"] for r in ctx.writes.rows[action_executions]] == [0]


def test_a_literal_date_or_another_objects_field_is_followed_by_nothing() -> None:
    ctx = appointment_context("2027-01-01T00:00:00Z", [until("2027-01-02T00:00:00+01:00"), note("x")])
    assert run(ctx).status == RunStatus.WAITING
    (resume,) = ctx.writes.rows[scheduled_resumes]
    assert resume["due_at"] == datetime(2027, 1, 1, 23, 0, tzinfo=UTC)
    assert resume["binding"] is None and resume["bound_entity_id"] is None


def test_past_due_with_if_past_run_continues_at_once() -> None:
    past = (NOW - timedelta(hours=1)).isoformat()
    ctx = appointment_context(past, [until(), note("x")])
    assert run(ctx) == RunOutcome(ctx.run_id, RunStatus.SUCCEEDED)
    assert ctx.writes.rows[scheduled_resumes] == []
    (delay_log, note_log) = logs(ctx)
    assert delay_log[:3] == (0, "delay_until", ActionStatus.SUCCEEDED)
    assert (
        delay_log[3]["dueAt"] == (NOW - timedelta(hours=1)).isoformat() and "passed" in delay_log[3]["note"]
    )
    assert note_log[:3] == (1, "create_note", ActionStatus.SUCCEEDED)


def test_past_due_with_if_past_skip_ends_the_run_skipped() -> None:
    ctx = appointment_context(NOW.isoformat(), [until(offsetSeconds=-1, ifPast="skip"), note("x")])
    assert run(ctx) == RunOutcome(ctx.run_id, RunStatus.SKIPPED, "due time passed")
    assert ctx.writes.rows[scheduled_resumes] == []
    assert [(i, s, e) for i, _, s, _, e in logs(ctx)] == [
        (0, ActionStatus.SKIPPED, "due time passed"),
        (1, ActionStatus.SKIPPED, "skipped: due time passed"),
    ]


def test_a_value_that_is_not_a_date_time_fails_the_action() -> None:
    ctx = appointment_context("soon", [until(), note("x")])
    outcome = run(ctx)
    assert outcome.status == RunStatus.FAILED
    assert "ISO-8601" in str(outcome.error)
    assert ctx.writes.rows[scheduled_resumes] == []


def test_an_unresolved_at_fails_the_action() -> None:
    ctx = appointment_context("2027-01-01T00:00:00Z", [until("{patient.nextFollowUpAt}"), note("x")])
    outcome = run(ctx)
    assert outcome.status == RunStatus.FAILED and "patient.nextFollowUpAt" in str(outcome.error)


def test_without_at_local_time_the_zone_is_not_read() -> None:
    ctx = appointment_context("2027-01-01T00:00:00Z", [until(offsetSeconds=60), note("x")])
    ctx.zones = PracticeZones(cast(Connection, None))  # a read would fail: there is no connection
    assert run(ctx).status == RunStatus.WAITING
    assert ctx.writes.rows[scheduled_resumes][0]["due_at"] == datetime(2027, 1, 1, 0, 1, tzinfo=UTC)
