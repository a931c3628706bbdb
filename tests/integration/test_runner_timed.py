"""Timed runs on real PostgreSQL (and the broker): delay_until's due time, re-plans and
cancellations, each applied once and at its place in the patient's partition (SPEC section 8)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Engine, text

from crmflow.commands import ActionCommandDict, ResumeCommandDict, RunCommandDict, command_key
from crmflow.crm.entities import create_patient
from crmflow.practice_settings import update_settings
from crmflow.settings import Settings
from crmflow_runner.executor import Executor
from crmflow_runner.handlers import build_handlers
from tests.support.processes import wait_for
from tests.support.rules import rule_record
from tests.support.runner import (
    appointment_event,
    create_topic,
    evaluated,
    note,
    note_bodies,
    rows,
    run_status,
    runner_starter,
    send,
)

pytestmark = pytest.mark.integration

CANCEL_ON = [
    {
        "eventName": "crm/appointment.updated",
        "match": "appointment.id",
        "conditionsJson": {"field": "changes.status", "operator": "changed_to", "value": "cancelled"},
    }
]


@pytest.fixture
def executor(settings: Settings) -> Executor:
    return Executor(build_handlers(settings.patient_field_allowlist))


@pytest.fixture
def start_runner(settings: Settings) -> Any:
    yield from runner_starter(settings)


class Reminder:
    """A reminder rule of a practice and one patient's appointments, with the evaluator's commands."""

    def __init__(self, engine: Engine, practice_id: str, **args: Any) -> None:
        self.practice_id = practice_id
        with engine.begin() as conn:
            self.patient = create_patient(conn, practice_id, {"firstName": "Rae", "lastName": "Mind"})
        until = {"type": "delay_until", "args": {"at": "{appointment.startsAt}", **args}}
        self.rule = rule_record(
            id=str(uuid.uuid4()),
            practiceId=practice_id,
            triggerEvent="crm/appointment.created",
            actionsJson=[until, note("reminder")],
            cancelOn=CANCEL_ON,
        )
        self.key = command_key(practice_id, self.patient["id"], "")

    def book(self, starts_at: datetime) -> tuple[dict[str, Any], RunCommandDict]:
        appointment = {
            "id": str(uuid.uuid4()),
            "patientId": self.patient["id"],
            "startsAt": starts_at.isoformat(),
            "status": "scheduled",
        }
        (run,) = evaluated(self.rule, appointment_event(self.practice_id, appointment))
        return appointment, cast(RunCommandDict, run)

    def update(self, appointment: dict[str, Any], **values: Any) -> list[ActionCommandDict]:
        changes = {k: {"from": appointment.get(k), "to": v} for k, v in values.items()}
        appointment.update(values)
        event = appointment_event(
            self.practice_id, appointment, name="crm/appointment.updated", changes=changes
        )
        return evaluated(self.rule, event)


def execute(engine: Engine, executor: Executor, commands: list[Any]) -> None:
    with engine.begin() as conn:
        executor.execute(conn, commands)


def db_now(engine: Engine) -> datetime:
    return rows(engine, "SELECT clock_timestamp() AS now")[0].now


def resume(engine: Engine, run_id: str) -> Any:
    (row,) = rows(engine, "SELECT * FROM scheduled_resumes WHERE run_id = :r", r=run_id)
    return row


def logs(engine: Engine, run_id: str) -> list[Any]:
    return rows(
        engine,
        "SELECT action_index, action_type, status, result, error FROM automation_action_logs "
        "WHERE run_id = :r ORDER BY id",
        r=run_id,
    )


def test_a_day_before_at_nine_in_the_practice_zone(
    engine: Engine, executor: Executor, practice: dict
) -> None:
    with engine.begin() as conn:
        update_settings(conn, practice["id"], {"timeZone": "America/New_York"})
    reminder = Reminder(engine, practice["id"], offsetSeconds=-86400, atLocalTime="09:00")
    # 2030-11-04 08:00 New York (EST, after the change on Nov 3): the day before at 09:00 is EST too.
    _, run = reminder.book(datetime(2030, 11, 4, 13, 0, tzinfo=UTC))
    execute(engine, executor, [run])
    assert run_status(engine, run["runId"]) == "waiting"
    row = resume(engine, run["runId"])
    assert row.due_at == datetime(2030, 11, 3, 14, 0, tzinfo=UTC)
    assert (str(row.rule_id), row.bound_entity_id, row.binding["field"]) == (
        reminder.rule["id"],
        run["event"]["entityId"],
        "startsAt",
    )
    assert row.cancel_keys == run["cancelKeys"]
    (log,) = logs(engine, run["runId"])
    assert (log.status, log.result) == ("scheduled", {"dueAt": "2030-11-03T14:00:00+00:00"})


def test_a_past_due_time_runs_at_once_or_skips(engine: Engine, executor: Executor, practice: dict) -> None:
    ran = Reminder(engine, practice["id"])
    skipped = Reminder(engine, practice["id"], ifPast="skip")
    yesterday = db_now(engine) - timedelta(days=1)
    _, run_now = ran.book(yesterday)
    _, run_skip = skipped.book(yesterday)
    execute(engine, executor, [run_now, run_skip])
    assert run_status(engine, run_now["runId"]) == "succeeded"
    assert note_bodies(engine, run_now["runId"]) == ["reminder"]
    assert [r.status for r in logs(engine, run_now["runId"])] == ["succeeded", "succeeded"]
    assert run_status(engine, run_skip["runId"]) == "skipped"
    assert rows(engine, "SELECT error FROM automation_runs WHERE id = :r", r=run_skip["runId"])[0].error == (
        "due time passed"
    )
    assert note_bodies(engine, run_skip["runId"]) == []


def test_moving_the_appointment_re_plans_once_and_a_null_date_cancels(
    engine: Engine, executor: Executor, practice: dict
) -> None:
    reminder = Reminder(engine, practice["id"], offsetSeconds=-3600)
    start = db_now(engine) + timedelta(days=2)
    appointment, run = reminder.book(start)
    (replan,) = reminder.update(appointment, startsAt=(start + timedelta(days=1)).isoformat())
    assert replan["kind"] == "replan"
    execute(engine, executor, [run, replan])  # one batch: the re-plan sees the run's resume
    execute(engine, executor, [replan])  # redelivered: changes nothing twice
    row = resume(engine, run["runId"])
    assert row.due_at == start + timedelta(days=1, hours=-1)
    moved = [r for r in logs(engine, run["runId"]) if r.status == "rescheduled"]
    assert len(moved) == 1
    assert (moved[0].action_index, moved[0].action_type) == (0, "delay_until")
    assert datetime.fromisoformat(moved[0].result["from"]) == start - timedelta(hours=1)
    assert datetime.fromisoformat(moved[0].result["to"]) == row.due_at
    assert moved[0].result["eventId"] == replan["eventId"]
    _, other_run = reminder.book(start)  # another appointment of the patient: not touched
    execute(engine, executor, [other_run])
    (cleared,) = reminder.update(appointment, startsAt=None)
    execute(engine, executor, [cleared])
    assert run_status(engine, run["runId"]) == "cancelled"
    assert resume(engine, run["runId"]).status == "cancelled"
    (skipped,) = [r for r in logs(engine, run["runId"]) if r.status == "skipped"]
    assert (skipped.action_index, skipped.result) == (1, {"eventId": cleared["eventId"]})
    assert run_status(engine, other_run["runId"]) == "waiting"
    assert resume(engine, other_run["runId"]).due_at == start - timedelta(hours=1)


def test_cancelling_the_appointment_cancels_even_a_resume_on_its_way(
    engine: Engine, executor: Executor, practice: dict
) -> None:
    reminder = Reminder(engine, practice["id"], offsetSeconds=-86400)
    appointment, run = reminder.book(db_now(engine) + timedelta(days=3))
    _, kept_run = reminder.book(db_now(engine) + timedelta(days=3))
    execute(engine, executor, [run, kept_run])
    assert reminder.update(appointment, status="confirmed") == []  # conditions false: no cancel
    (cancel,) = reminder.update(appointment, status="cancelled")
    assert cancel["kind"] == "cancel"
    with engine.begin() as conn:  # as if due and sent by the scheduler: its resume is on its way
        conn.execute(
            text("UPDATE scheduled_resumes SET status = 'emitted' WHERE run_id = :r"), {"r": run["runId"]}
        )
    on_its_way: ResumeCommandDict = {
        "kind": "resume",
        "runId": run["runId"],
        "actionIndex": 1,
        "practiceId": practice["id"],
    }
    execute(engine, executor, [cancel, on_its_way])
    execute(engine, executor, [cancel, on_its_way])  # redelivered: nothing twice
    assert run_status(engine, run["runId"]) == "cancelled"
    assert note_bodies(engine, run["runId"]) == []
    assert [(r.action_index, r.status, r.error) for r in logs(engine, run["runId"])] == [
        (0, "scheduled", None),
        (1, "skipped", f"cancelled by event {cancel['eventId']}"),
    ]
    assert run_status(engine, kept_run["runId"]) == "waiting"  # another appointment's run


def test_a_replan_through_the_partition_moves_the_reminder(
    settings: Settings, engine: Engine, practice: dict, start_runner: Any
) -> None:
    topic = create_topic(settings, partitions=1)
    reminder = Reminder(engine, practice["id"])
    start = db_now(engine) + timedelta(seconds=2)
    appointment, run = reminder.book(start)
    (replan,) = reminder.update(appointment, startsAt=(start + timedelta(seconds=3)).isoformat())
    start_runner(topic)
    send(settings, topic, [run, replan], key=reminder.key)
    wait_for(lambda: run_status(engine, run["runId"]) == "waiting", 20, what="the waiting run")
    wait_for(
        lambda: any(r.status == "rescheduled" for r in logs(engine, run["runId"])), 20, what="the re-plan"
    )
    time.sleep(max(0.0, (start - db_now(engine)).total_seconds()) + 1)
    assert note_bodies(engine, run["runId"]) == [], "the reminder fired at the old time"
    wait_for(lambda: run_status(engine, run["runId"]) == "succeeded", 20, what="the moved reminder")
    (fired,) = rows(engine, "SELECT created_at FROM notes WHERE run_id = :r", r=run["runId"])
    assert fired.created_at >= start + timedelta(seconds=3)


def test_a_resume_already_sent_wins_over_a_replan(engine: Engine, executor: Executor, practice: dict) -> None:
    reminder = Reminder(engine, practice["id"])
    start = db_now(engine) + timedelta(days=1)
    appointment, run = reminder.book(start)
    execute(engine, executor, [run])
    with engine.begin() as conn:  # the scheduler has claimed and sent its resume
        conn.execute(
            text("UPDATE scheduled_resumes SET status = 'emitted' WHERE run_id = :r"), {"r": run["runId"]}
        )
    (replan,) = reminder.update(appointment, startsAt=(start + timedelta(days=1)).isoformat())
    sent: ResumeCommandDict = {
        "kind": "resume",
        "runId": run["runId"],
        "actionIndex": 1,
        "practiceId": practice["id"],
    }
    execute(engine, executor, [replan, sent])
    assert resume(engine, run["runId"]).due_at == start  # not moved: the resume was on its way
    assert [r.status for r in logs(engine, run["runId"])] == ["scheduled", "succeeded"]
    assert note_bodies(engine, run["runId"]) == ["reminder"]


def _moves(engine: Engine, run_id: str) -> list[tuple[datetime, datetime, str]]:
    moved = [r.result for r in logs(engine, run_id) if r.status == "rescheduled"]
    return [(datetime.fromisoformat(m["from"]), datetime.fromisoformat(m["to"]), m["eventId"]) for m in moved]


def test_consecutive_replans_and_cancels_apply_in_order_as_one_by_one(
    engine: Engine, executor: Executor, practice: dict
) -> None:
    reminder = Reminder(engine, practice["id"], offsetSeconds=-3600)
    start = db_now(engine) + timedelta(days=2)
    due = start - timedelta(hours=1)
    twice, run_twice = reminder.book(start)
    stopped, run_stopped = reminder.book(start)
    (first,) = reminder.update(twice, startsAt=(start + timedelta(days=1)).isoformat())
    (second,) = reminder.update(twice, startsAt=(start + timedelta(days=2)).isoformat())
    (moved,) = reminder.update(stopped, startsAt=(start + timedelta(days=1)).isoformat())
    (cancel,) = reminder.update(stopped, status="cancelled")
    (after_cancel,) = reminder.update(stopped, startsAt=(start + timedelta(days=3)).isoformat())
    assert [c["kind"] for c in (first, second, moved, cancel, after_cancel)] == ["replan"] * 3 + [
        "cancel",
        "replan",
    ]
    # One run of five consecutive control commands, two of them on one resume each time.
    execute(engine, executor, [run_twice, run_stopped, first, second, moved, cancel, after_cancel])
    assert resume(engine, run_twice["runId"]).due_at == due + timedelta(days=2)
    assert _moves(engine, run_twice["runId"]) == [
        (due, due + timedelta(days=1), first["eventId"]),
        (due + timedelta(days=1), due + timedelta(days=2), second["eventId"]),
    ]
    assert run_status(engine, run_twice["runId"]) == "waiting"
    assert run_status(engine, run_stopped["runId"]) == "cancelled"
    row = resume(engine, run_stopped["runId"])
    assert (row.status, row.due_at) == ("cancelled", due + timedelta(days=1))  # moved, then cancelled
    assert [(r.action_index, r.status, r.error) for r in logs(engine, run_stopped["runId"])] == [
        (0, "scheduled", None),
        (0, "rescheduled", None),
        (1, "skipped", f"cancelled by event {cancel['eventId']}"),  # the later re-plan: nothing
    ]
    (stopped_run,) = rows(engine, "SELECT error FROM automation_runs WHERE id = :r", r=run_stopped["runId"])
    assert stopped_run.error == f"cancelled by event {cancel['eventId']}"
    # The last of each redelivered: nothing twice.
    execute(engine, executor, [second, cancel, after_cancel])
    assert len(_moves(engine, run_twice["runId"])) == 2
    assert len(logs(engine, run_stopped["runId"])) == 3


def test_a_batch_mixing_runs_resumes_replans_and_cancels_acts_in_partition_order(
    engine: Engine, executor: Executor, practice: dict
) -> None:
    reminder = Reminder(engine, practice["id"], offsetSeconds=-3600)
    start = db_now(engine) + timedelta(days=2)
    due = start - timedelta(hours=1)
    earlier, run_earlier = reminder.book(start)
    execute(engine, executor, [run_earlier])
    later, run_later = reminder.book(start)
    due_now, run_due = reminder.book(start)
    execute(engine, executor, [run_due])
    with engine.begin() as conn:  # as if due and sent by the scheduler
        conn.execute(
            text("UPDATE scheduled_resumes SET status = 'emitted' WHERE run_id = :r"), {"r": run_due["runId"]}
        )
    sent: ResumeCommandDict = {
        "kind": "resume",
        "runId": run_due["runId"],
        "actionIndex": 1,
        "practiceId": practice["id"],
    }
    (replan_later,) = reminder.update(later, startsAt=(start + timedelta(days=1)).isoformat())
    (cancel_earlier,) = reminder.update(earlier, status="cancelled")
    (replan_earlier,) = reminder.update(earlier, startsAt=(start + timedelta(days=1)).isoformat())
    (replan_due,) = reminder.update(due_now, startsAt=(start + timedelta(days=1)).isoformat())
    batch = [replan_later, run_later, replan_later, cancel_earlier, replan_earlier, sent, replan_due]
    execute(engine, executor, batch)
    # The re-plan before its run found nothing; the same one after it moved the run's resume once.
    assert _moves(engine, run_later["runId"]) == [(due, due + timedelta(days=1), replan_later["eventId"])]
    assert resume(engine, run_later["runId"]).due_at == due + timedelta(days=1)
    # Cancelled, then a re-plan of the cancelled run: nothing.
    assert run_status(engine, run_earlier["runId"]) == "cancelled"
    assert [r.status for r in logs(engine, run_earlier["runId"])] == ["scheduled", "skipped"]
    # Resumed before its re-plan: the reminder ran, the re-plan found no pending resume.
    assert run_status(engine, run_due["runId"]) == "succeeded"
    assert note_bodies(engine, run_due["runId"]) == ["reminder"]
    assert _moves(engine, run_due["runId"]) == []
