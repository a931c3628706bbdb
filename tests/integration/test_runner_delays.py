"""Durable delays on the real broker: resumes travel through the patient's partition, once."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from sqlalchemy import text

from crmflow import topics
from crmflow.crm.entities import create_patient
from crmflow.settings import Settings
from crmflow_runner.bootstrap import bootstrap
from crmflow_runner.executor import Executor
from crmflow_runner.handlers import build_handlers
from tests.support.processes import wait_for
from tests.support.runner import (
    create_topic,
    delay,
    note,
    note_bodies,
    rows,
    run_command,
    run_status,
    runner_starter,
    send,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def start_runner(settings):
    yield from runner_starter(settings)


def test_a_delay_never_blocks_the_partition_and_resumes_in_line(settings, engine, practice, start_runner):
    topic = create_topic(settings, partitions=1)  # every patient on one partition
    with engine.begin() as conn:
        ann = create_patient(conn, practice["id"], {"firstName": "Ann", "lastName": "Delay"})
        bob = create_patient(conn, practice["id"], {"firstName": "Bob", "lastName": "Delay"})
    delayed = run_command(practice["id"], ann, [note("a"), delay(2), note("c")])
    later = run_command(practice["id"], ann, [note("b")])
    other = run_command(practice["id"], bob, [note("x")])
    start_runner(topic)
    started = time.monotonic()
    send(settings, topic, [delayed, later, other])
    wait_for(lambda: note_bodies(engine, other["runId"]) == ["x"], 20, what="the other patient's note")
    assert time.monotonic() - started < 2, "the delay blocked the partition"
    assert note_bodies(engine, later["runId"]) == ["b"]
    assert run_status(engine, delayed["runId"]) == "waiting"
    wait_for(lambda: run_status(engine, delayed["runId"]) == "succeeded", 20, what="the resumed run")
    assert time.monotonic() - started >= 2
    assert note_bodies(engine, delayed["runId"]) == ["a", "c"]
    in_order = rows(
        engine,
        "SELECT n.body FROM automation_action_logs l JOIN notes n ON n.run_id = l.run_id "
        "AND l.action_type = 'create_note' AND l.result->>'noteId' = n.id::text "
        "WHERE n.patient_id = :p ORDER BY l.id",
        p=ann["id"],
    )
    assert [r.body for r in in_order] == ["a", "b", "c"]


def test_two_schedulers_never_send_a_resume_twice(settings: Settings, engine, practice, start_runner):
    topic = create_topic(settings, partitions=2)
    executor = Executor(build_handlers(settings.patient_field_allowlist))
    with engine.begin() as conn:
        patient = create_patient(conn, practice["id"], {"firstName": "Cy", "lastName": "Delay"})
    commands = [run_command(practice["id"], patient, [delay(0), note(f"n{i}")]) for i in range(300)]
    run_ids = {c["runId"] for c in commands}
    schedulers = [bootstrap(settings, topic=topic, instance_id=f"sched-{i}").scheduler for i in range(2)]
    stop = threading.Event()
    failures: list[BaseException] = []

    def race(scheduler) -> None:
        # Ticks without pause from before the resumes exist, so both meet on the same rows the
        # moment they are committed (the session's runner service, if running, ticks only every
        # scheduler_interval_seconds and takes at most one batch of them first).
        try:
            while not stop.is_set():
                scheduler.tick()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=race, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    since_ms = int(time.time() * 1000) - 1000
    try:
        with engine.begin() as conn:
            assert {o.status for o in executor.execute(conn, commands)} == {"waiting"}
        wait_for(lambda: pending(engine, run_ids) == 0, 60, 0.1, "every resume to be sent")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not failures
    # Whoever sent them (the two schedulers here to the test's topic, the service's to its own
    # commands topic), every resume was sent, and once.
    sent = [
        m["runId"]
        for source in (topic, topics.COMMANDS)
        for m in read_all(settings, source, since_ms)
        if m.get("kind") == "resume" and m["runId"] in run_ids
    ]
    assert sorted(sent) == sorted(run_ids), "a resume was sent twice, or never"
    start_runner(topic)
    wait_for(
        lambda: (
            rows(
                engine,
                "SELECT count(*) AS n FROM automation_runs WHERE id = ANY(CAST(:r AS uuid[])) "
                "AND status = 'succeeded'",
                r=list(run_ids),
            )[0].n
            == len(run_ids)
        ),
        60,
        0.5,
        "every run to finish",
    )
    counts = rows(
        engine,
        "SELECT count(*) AS n FROM notes WHERE run_id = ANY(CAST(:r AS uuid[])) GROUP BY run_id",
        r=list(run_ids),
    )
    assert len(counts) == len(run_ids) and {c.n for c in counts} == {1}


def read_all(settings: Settings, topic: str, since_ms: int | None = None) -> list[dict]:
    """The JSON objects on ``topic`` (since a time, else all of it); other payloads are skipped."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"test-read-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    start = OFFSET_BEGINNING if since_ms is None else since_ms
    assignment = [TopicPartition(topic, p, start) for p in partitions]
    if since_ms is not None:  # the first offset at or after that time, per partition
        assignment = consumer.offsets_for_times(assignment, timeout=10)
    consumer.assign(assignment)
    out: list[dict] = []
    idle = time.monotonic()
    while time.monotonic() - idle < 1.5:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            idle = time.monotonic()
            try:
                value = json.loads(msg.value() or b"")
            except ValueError:
                continue  # a tombstone or a poison message another test sent
            if isinstance(value, dict):
                out.append(value)
    consumer.close()
    return out


def pending(engine, run_ids: set[str]) -> int:
    (row,) = rows(
        engine,
        "SELECT count(*) AS n FROM scheduled_resumes WHERE run_id = ANY(CAST(:r AS uuid[])) "
        "AND status = 'pending'",
        r=list(run_ids),
    )
    return int(row.n)


def test_a_later_resume_of_a_patient_never_overtakes_an_earlier_one_held_by_another_scheduler(
    settings: Settings, engine, practice
):
    topic = create_topic(settings, partitions=1)
    executor = Executor(build_handlers(settings.patient_field_allowlist))
    with engine.begin() as conn:
        patient = create_patient(conn, practice["id"], {"firstName": "Di", "lastName": "Order"})
    first, second = (run_command(practice["id"], patient, [delay(2), note(n)]) for n in ("1st", "2nd"))
    with engine.begin() as conn:
        executor.execute(conn, [first])
        executor.execute(conn, [second])
    other_scheduler = engine.connect()  # holds the earlier resume, as a scheduler sending it would
    held = other_scheduler.begin()
    other_scheduler.execute(
        text("SELECT 1 FROM scheduled_resumes WHERE run_id = :r FOR UPDATE"), {"r": first["runId"]}
    )
    try:
        time.sleep(2.2)  # both due now
        scheduler = bootstrap(settings, topic=topic, instance_id="order").scheduler
        scheduler.tick()  # claims the later one (and any other due resume) ...
        assert second["runId"] not in {m["runId"] for m in read_all(settings, topic)}  # ... sends not it
        (row,) = rows(engine, "SELECT status FROM scheduled_resumes WHERE run_id = :r", r=second["runId"])
        assert row.status == "pending"
        other_scheduler.execute(
            text("UPDATE scheduled_resumes SET status = 'emitted' WHERE run_id = :r"), {"r": first["runId"]}
        )
        held.commit()  # the other scheduler sent the earlier one: now the later may go
    finally:
        other_scheduler.close()
    scheduler.tick()  # the other one has been sent: now this one goes (here, or by the service's)
    (row,) = rows(engine, "SELECT status FROM scheduled_resumes WHERE run_id = :r", r=second["runId"])
    assert row.status != "pending"
