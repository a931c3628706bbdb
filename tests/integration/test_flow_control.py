"""Flow control on real PostgreSQL (SPEC section 13): enrollment claims under concurrent writers,
held runs released in order, and bulk cancel/retry applied once."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import Engine, text

from crmflow.bulk import apply_chunk, create_operation
from crmflow.commands import ActionCommandDict, ResumeCommandDict, RunCommandDict
from crmflow.crm.entities import create_patient, update_patient
from crmflow.rules_repo import create_rule, update_rule
from crmflow.settings import Settings
from crmflow_runner.executor import Executor
from crmflow_runner.handlers import build_handlers
from tests.support.processes import wait_for
from tests.support.rules import rule_record
from tests.support.runner import (
    appointment_event,
    create_topic,
    delay,
    evaluated,
    note,
    note_bodies,
    rows,
    run_status,
    runner_starter,
    send,
)

pytestmark = pytest.mark.integration
UPDATED = "crm/appointment.updated"


@pytest.fixture
def executor(settings: Settings) -> Executor:
    return Executor(build_handlers(settings.patient_field_allowlist))


def execute(engine: Engine, executor: Executor, commands: list[Any]) -> None:
    with engine.begin() as conn:
        executor.execute(conn, commands)


def patient(engine: Engine, practice_id: str, **values: Any) -> dict[str, Any]:
    with engine.begin() as conn:
        return create_patient(conn, practice_id, {"firstName": "Ena", "lastName": "Roll", **values})


def keyed_rule(practice_id: str, reenroll: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
    return rule_record(
        id=str(uuid.uuid4()),
        practiceId=practice_id,
        triggerEvent=UPDATED,
        actionsJson=actions,
        enrollment={"key": "appointment.id", "reenroll": reenroll},
    )


def edit(rule: dict[str, Any], practice_id: str, patient_id: str, appointment_id: str) -> RunCommandDict:
    appointment = {"id": appointment_id, "patientId": patient_id, "startsAt": "2027-01-02T10:00:00Z"}
    (run,) = evaluated(rule, appointment_event(practice_id, appointment, name=UPDATED, changes={}))
    assert run["kind"] == "run" and run.get("enrollmentKey"), run
    return cast(RunCommandDict, run)


def run_row(engine: Engine, run_id: str) -> Any:
    (row,) = rows(engine, "SELECT status, error FROM automation_runs WHERE id = :r", r=run_id)
    return row


def test_two_writers_cannot_both_enroll_one_key(engine: Engine, executor: Executor, practice: dict) -> None:
    """Writer A holds its transaction open after claiming; writer B (another patient, as on another
    partition or runner instance) claims the same key meanwhile: B waits for A's commit, then is
    refused."""
    rule = keyed_rule(practice["id"], "never", [note("once")])
    appointment_id = str(uuid.uuid4())
    first = edit(rule, practice["id"], patient(engine, practice["id"])["id"], appointment_id)
    second = edit(rule, practice["id"], patient(engine, practice["id"])["id"], appointment_id)
    claimed, b_done = threading.Event(), threading.Event()

    def writer_a() -> None:
        with engine.begin() as conn:
            executor.execute(conn, [first])
            claimed.set()
            time.sleep(0.5)  # B runs into A's claim now
            assert not b_done.is_set()  # B is still waiting for this transaction

    def writer_b() -> None:
        claimed.wait(10)
        execute(engine, executor, [second])
        b_done.set()

    threads = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert b_done.is_set()
    assert run_row(engine, first["runId"]).status == "succeeded"
    assert tuple(run_row(engine, second["runId"])) == ("skipped", "already_enrolled")
    assert note_bodies(engine, second["runId"]) == []


def assert_one_run_per_key(engine: Engine, rule_id: str, keys: int, patients: int) -> None:
    """Each key's run waits; every other patient's run of the same key was skipped."""
    found = rows(
        engine,
        "SELECT status, error, count(*) AS n FROM automation_runs WHERE rule_id = :r GROUP BY 1, 2",
        r=rule_id,
    )
    assert {(f.status, f.error): f.n for f in found} == {
        ("waiting", None): keys,
        ("skipped", "already_enrolled"): keys * (patients - 1),
    }


@pytest.mark.parametrize("reenroll", ["never", "after_finish"])
def test_parallel_writers_start_one_run_per_key(
    engine: Engine, executor: Executor, practice: dict, reenroll: str
) -> None:
    """Four writers (four patients) at once, twenty keys: one run per key, whatever the timing (the
    run waits in a delay, so after_finish refuses the others too)."""
    rule = keyed_rule(practice["id"], reenroll, [delay(3600), note("later")])
    patients = [patient(engine, practice["id"])["id"] for _ in range(4)]
    keys = [str(uuid.uuid4()) for _ in range(20)]
    commands = [[edit(rule, practice["id"], p, k) for k in keys] for p in patients]
    start = threading.Barrier(len(patients))
    errors: list[BaseException] = []

    def writer(mine: list[RunCommandDict]) -> None:
        try:
            start.wait(10)
            for c in mine:
                execute(engine, executor, [c])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(c,)) for c in commands]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert_one_run_per_key(engine, rule["id"], len(keys), len(patients))


@pytest.fixture
def start_runner(settings: Settings) -> Any:
    yield from runner_starter(settings)


def test_two_runner_instances_start_one_run_per_key(
    engine: Engine, settings: Settings, practice: dict, start_runner: Any
) -> None:
    """The same keys from six patients, spread over two partitions owned by two runner instances
    consuming at once (real Kafka): one run per key."""
    rule = keyed_rule(practice["id"], "after_finish", [delay(3600), note("later")])
    patients = [patient(engine, practice["id"])["id"] for _ in range(6)]
    keys = [str(uuid.uuid4()) for _ in range(15)]
    commands: list[ActionCommandDict] = [edit(rule, practice["id"], p, k) for k in keys for p in patients]
    topic = create_topic(settings, partitions=2)
    start_runner(topic, "a")
    start_runner(topic, "b")
    send(settings, topic, commands)
    probe = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"probe-{uuid.uuid4().hex[:6]}"}
    )
    filled = [probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in (0, 1)]
    probe.close()
    assert all(filled), filled  # both partitions (both instances) have work
    count = "SELECT count(*) AS n FROM automation_runs WHERE rule_id = :r"
    wait_for(lambda: rows(engine, count, r=rule["id"])[0].n == len(commands), 60, what="every run recorded")
    assert_one_run_per_key(engine, rule["id"], len(keys), len(patients))


def test_after_finish_enrolls_again_once_the_run_ended(
    engine: Engine, executor: Executor, practice: dict
) -> None:
    """Within one batch too: the second edit is claimed once the first run has finished."""
    rule = keyed_rule(practice["id"], "after_finish", [note("done")])
    pid, appointment_id = patient(engine, practice["id"])["id"], str(uuid.uuid4())
    runs = [edit(rule, practice["id"], pid, appointment_id) for _ in range(3)]
    execute(engine, executor, list(runs))
    assert [run_status(engine, r["runId"]) for r in runs] == ["succeeded"] * 3

    never = keyed_rule(practice["id"], "never", [note("done")])
    runs = [edit(never, practice["id"], pid, appointment_id) for _ in range(3)]
    execute(engine, executor, list(runs))
    assert [run_status(engine, r["runId"]) for r in runs] == ["succeeded", "skipped", "skipped"]


def test_a_run_resumed_earlier_in_the_batch_frees_its_key_for_a_later_edit(
    engine: Engine, executor: Executor, practice: dict
) -> None:
    rule = keyed_rule(practice["id"], "after_finish", [delay(1), note("later")])
    pid, appointment_id = patient(engine, practice["id"])["id"], str(uuid.uuid4())
    first = edit(rule, practice["id"], pid, appointment_id)
    execute(engine, executor, [first])
    assert run_status(engine, first["runId"]) == "waiting"
    second = edit(rule, practice["id"], pid, appointment_id)
    execute(engine, executor, [resume_of(first["runId"], 1, practice["id"]), second])  # one batch
    assert [run_status(engine, r["runId"]) for r in (first, second)] == ["succeeded", "waiting"]


def test_a_cancelled_waiting_run_ends_its_enrollment(
    engine: Engine, executor: Executor, practice: dict
) -> None:
    rule = keyed_rule(practice["id"], "after_finish", [delay(3600), note("later")])
    pid, appointment_id = patient(engine, practice["id"])["id"], str(uuid.uuid4())
    waiting = edit(rule, practice["id"], pid, appointment_id)
    execute(engine, executor, [waiting])
    refused = edit(rule, practice["id"], pid, appointment_id)
    execute(engine, executor, [refused])
    assert run_status(engine, refused["runId"]) == "skipped"
    with engine.begin() as conn:
        create_operation(conn, practice["id"], "cancel", {"ruleId": rule["id"]})
    drain(engine)
    assert run_status(engine, waiting["runId"]) == "cancelled"
    again = edit(rule, practice["id"], pid, appointment_id)
    execute(engine, executor, [again])
    assert run_status(engine, again["runId"]) == "waiting"


def drain(engine: Engine) -> None:
    for _ in range(100):
        with engine.begin() as conn:
            if not apply_chunk(conn):
                return


def resume_of(run_id: str, index: int, practice_id: str) -> ResumeCommandDict:
    return {"kind": "resume", "runId": run_id, "actionIndex": index, "practiceId": practice_id}


def test_held_runs_wait_for_the_unpause_then_run_in_event_order(
    engine: Engine, executor: Executor, practice: dict
) -> None:
    with engine.begin() as conn:
        saved = create_rule(
            conn,
            practice["id"],
            {"name": "held", "triggerEvent": UPDATED, "actionsJson": [note("n")], "paused": "hold"},
        )
    pid = patient(engine, practice["id"])["id"]
    runs = []
    for i in range(3):
        rule = rule_record(**{**saved, "actionsJson": [note(f"edit {i}")]})
        appointment = {"id": str(uuid.uuid4()), "patientId": pid, "startsAt": "2027-01-02T10:00:00Z"}
        (run,) = evaluated(rule, appointment_event(practice["id"], appointment, name=UPDATED, changes={}))
        assert run["kind"] == "run" and run.get("held")
        runs.append(run)
    execute(engine, executor, runs[:2])
    execute(engine, executor, runs[2:])
    assert [run_status(engine, r["runId"]) for r in runs] == ["held"] * 3
    parked = "SELECT run_id::text AS run_id, status FROM scheduled_resumes WHERE rule_id = :r ORDER BY due_at"
    assert [(r.run_id, r.status) for r in rows(engine, parked, r=saved["id"])] == [
        (r["runId"], "held") for r in runs
    ]
    with engine.begin() as conn:
        update_rule(conn, practice["id"], saved["id"], {"paused": None})
    released = rows(engine, parked, r=saved["id"])
    assert [(r.run_id, r.status) for r in released] == [(r["runId"], "pending") for r in runs]

    # An edit after the unpause, before the released runs executed: it queues behind them.
    running = rule_record(**{**saved, "paused": None, "actionsJson": [note("edit 3")]})
    appointment = {"id": str(uuid.uuid4()), "patientId": pid, "startsAt": "2027-01-02T10:00:00Z"}
    (later,) = evaluated(running, appointment_event(practice["id"], appointment, name=UPDATED, changes={}))
    assert not later.get("held")
    execute(engine, executor, [later])
    assert run_status(engine, later["runId"]) == "held"
    queued = (
        "SELECT run_id::text AS run_id FROM scheduled_resumes "
        "WHERE rule_id = :r AND status = 'pending' ORDER BY due_at"
    )
    order = [r.run_id for r in rows(engine, queued, r=saved["id"])]
    assert order == [r["runId"] for r in [*runs, later]]

    resumes: list[ActionCommandDict] = [resume_of(run_id, 0, practice["id"]) for run_id in order]
    execute(engine, executor, resumes + resumes)  # a redelivered resume does nothing
    assert [run_status(engine, r["runId"]) for r in [*runs, later]] == ["succeeded"] * 4
    bodies = rows(engine, "SELECT body FROM notes WHERE patient_id = :p ORDER BY created_at, id", p=pid)
    assert [b.body for b in bodies] == ["edit 0", "edit 1", "edit 2", "edit 3"]

    # Once they have run, a new edit runs at once.
    (now,) = evaluated(
        running,
        appointment_event(practice["id"], {**appointment, "id": str(uuid.uuid4())}, name=UPDATED, changes={}),
    )
    execute(engine, executor, [now])
    assert run_status(engine, now["runId"]) == "succeeded"


def test_a_held_run_arriving_after_the_unpause_is_due_at_once(
    engine: Engine, executor: Executor, practice: dict
) -> None:
    with engine.begin() as conn:
        saved = create_rule(
            conn,
            practice["id"],
            {"name": "h", "triggerEvent": UPDATED, "actionsJson": [note()], "paused": "hold"},
        )
        update_rule(conn, practice["id"], saved["id"], {"paused": None})
    pid = patient(engine, practice["id"])["id"]
    appointment = {"id": str(uuid.uuid4()), "patientId": pid, "startsAt": "2027-01-02T10:00:00Z"}
    held_rule = rule_record(**{**saved, "paused": "hold"})  # evaluated before the unpause arrived
    (run,) = evaluated(held_rule, appointment_event(practice["id"], appointment, name=UPDATED, changes={}))
    execute(engine, executor, [run])
    (row,) = rows(engine, "SELECT status FROM scheduled_resumes WHERE run_id = :r", r=run["runId"])
    assert row.status == "pending"


def test_bulk_retry_resumes_from_the_failed_action_once(
    engine: Engine, executor: Executor, practice: dict
) -> None:
    """An SMS draft fails (no phone); the phone is added; a bulk retry drafts it and runs the rest,
    never the note that succeeded. The same retry again matches nothing."""
    pid = patient(engine, practice["id"])["id"]
    sms = {"type": "draft_sms", "args": {"patientId": "{patientId}", "body": "hi"}}
    rule = rule_record(
        id=str(uuid.uuid4()),
        practiceId=practice["id"],
        triggerEvent=UPDATED,
        actionsJson=[note("before"), sms, note("after")],
    )
    appointment = {"id": str(uuid.uuid4()), "patientId": pid, "startsAt": "2027-01-02T10:00:00Z"}
    (run,) = evaluated(rule, appointment_event(practice["id"], appointment, name=UPDATED, changes={}))
    execute(engine, executor, [run])
    assert run_status(engine, run["runId"]) == "failed"
    with engine.begin() as conn:
        update_patient(conn, practice["id"], pid, {"phone": "+15550100"})
        op = create_operation(conn, practice["id"], "retry", {"ruleId": rule["id"], "status": "failed"})
    assert op["matched"] == 1
    drain(engine)
    assert run_status(engine, run["runId"]) == "waiting"
    (due,) = rows(
        engine, "SELECT action_index, status FROM scheduled_resumes WHERE run_id = :r", r=run["runId"]
    )
    assert tuple(due) == (1, "pending")
    resume = resume_of(run["runId"], 1, practice["id"])
    execute(engine, executor, [resume, resume])
    assert run_status(engine, run["runId"]) == "succeeded"
    assert note_bodies(engine, run["runId"]) == ["before", "after"]
    drafts = rows(engine, "SELECT count(*) AS n FROM message_drafts WHERE patient_id = :p", p=pid)
    assert drafts[0].n == 1
    with engine.begin() as conn:
        again = create_operation(conn, practice["id"], "retry", {"ruleId": rule["id"]})
    assert (again["matched"], again["status"]) == (0, "done")


def test_bulk_cancel_touches_only_its_practice(
    engine: Engine, executor: Executor, practice: dict, settings: Settings
) -> None:
    from crmflow.apikeys import create_practice

    with engine.begin() as conn:
        other_id = create_practice(conn, f"Other {uuid.uuid4().hex[:6]}")
    waiting = {}
    for practice_id in (practice["id"], other_id):
        pid = patient(engine, practice_id)["id"]
        rule = rule_record(
            id=str(uuid.uuid4()),
            practiceId=practice_id,
            triggerEvent=UPDATED,
            actionsJson=[delay(3600), note()],
        )
        appointment = {"id": str(uuid.uuid4()), "patientId": pid, "startsAt": "2027-01-02T10:00:00Z"}
        (run,) = evaluated(rule, appointment_event(practice_id, appointment, name=UPDATED, changes={}))
        execute(engine, executor, [run])
        waiting[practice_id] = run["runId"]
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    with engine.begin() as conn:
        op = create_operation(conn, practice["id"], "cancel", {"since": since})
    assert op["matched"] == 1
    with engine.begin() as conn:  # the same request while the first is open: that one
        assert create_operation(conn, practice["id"], "cancel", {"since": since})["id"] == op["id"]
    drain(engine)
    assert run_status(engine, waiting[practice["id"]]) == "cancelled"
    assert run_status(engine, waiting[other_id]) == "waiting"
    skipped = rows(
        engine,
        "SELECT action_index, status FROM automation_action_logs WHERE run_id = :r ORDER BY id",
        r=waiting[practice["id"]],
    )
    assert [tuple(s) for s in skipped] == [(0, "scheduled"), (1, "skipped")]
    with engine.connect() as conn:
        (state,) = conn.execute(
            text("SELECT status, processed, changed FROM bulk_operations WHERE id = :i"), {"i": op["id"]}
        ).all()
    assert tuple(state) == ("done", 1, 1)
