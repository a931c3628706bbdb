"""The runner's consumer on the real broker and PostgreSQL, on a private commands topic.

Dead letters, redelivery after a crash between the PostgreSQL commit and the offset commit, and
two runners of one consumer group sharing (and handing over) partitions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from crmflow.crm.entities import create_patient
from crmflow.dlq import read_dead_letters
from tests.support.processes import wait_for
from tests.support.runner import create_topic, note, rows, run_command, runner_starter, send

pytestmark = pytest.mark.integration


@pytest.fixture
def start_runner(settings) -> Iterator:
    yield from runner_starter(settings)


def patients(engine, practice_id: str, n: int) -> list[dict]:
    with engine.begin() as conn:
        return [
            create_patient(conn, practice_id, {"firstName": f"P{i}", "lastName": "Runner"}) for i in range(n)
        ]


def notes_of(engine, run_ids: list[str]) -> dict[str, int]:
    found = rows(
        engine,
        "SELECT run_id::text AS run, count(*) AS n FROM notes WHERE run_id = ANY(CAST(:r AS uuid[])) "
        "GROUP BY run_id",
        r=run_ids,
    )
    return {r.run: r.n for r in found}


def committed(settings, group: str, topic: str, partitions: int) -> list[int]:
    c = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return [tp.offset for tp in tps]
    finally:
        c.close()


def test_poison_and_failing_commands_are_dead_lettered_and_the_rest_runs(
    settings, engine, practice, start_runner
):
    topic = create_topic(settings, partitions=1)
    (patient,) = patients(engine, practice["id"], 1)
    good = [run_command(practice["id"], patient, [note(f"good {i}")]) for i in range(2)]
    foreign = run_command(str(uuid.uuid4()), patient, [note("no such practice")])  # FK violation
    send(settings, topic, [good[0], b"{not json", foreign, good[1]])
    runner = start_runner(topic)
    wait_for(lambda: len(notes_of(engine, [c["runId"] for c in good])) == 2, 30, what="the good notes")
    wait_for(lambda: committed(settings, runner.group, topic, 1) == [4], 30, what="offsets past all four")
    letters = wait_for(
        lambda: [dl for dl in read_dead_letters(settings) if dl.source_topic == topic] or None,
        30,
        0.5,
        "dead letters",
    )
    assert [(dl.reason, dl.source_partition, dl.source_offset, dl.service) for dl in letters] == [
        ("not_json", 0, 1, "action-runner"),
        ("execution_failed", 0, 2, "action-runner"),
    ]
    assert "ForeignKeyViolation" in letters[1].detail
    assert letters[0].value == b"{not json"  # the original record, for replay
    assert rows(engine, "SELECT 1 FROM automation_runs WHERE id = :r", r=foreign["runId"]) == []


def test_a_crash_between_the_database_commit_and_the_offset_commit_changes_nothing(
    settings, engine, practice, start_runner
):
    topic = create_topic(settings, partitions=2)
    people = patients(engine, practice["id"], 5)
    commands = [run_command(practice["id"], p, [note("once"), note("twice?")]) for p in people]
    send(settings, topic, commands)
    first = start_runner(topic, "a")
    first.runner.consumer._commit = lambda messages: None  # dies before committing offsets
    run_ids = [c["runId"] for c in commands]
    wait_for(lambda: len(notes_of(engine, run_ids)) == 5, 30, what="first delivery")
    first.stop()
    second = start_runner(topic, "a")  # restarted: everything is delivered again
    wait_for(
        lambda: sum(max(0, o) for o in committed(settings, second.group, topic, 2)) == 5,
        30,
        what="the redelivered commands to be committed",
    )
    assert notes_of(engine, run_ids) == {r: 2 for r in run_ids}
    statuses = rows(
        engine, "SELECT status FROM automation_runs WHERE id = ANY(CAST(:r AS uuid[]))", r=run_ids
    )
    assert [s.status for s in statuses] == ["succeeded"] * 5


def test_two_runners_share_partitions_and_hand_them_over_exactly_once_in_order(
    settings, engine, practice, start_runner
):
    topic = create_topic(settings, partitions=4)
    people = patients(engine, practice["id"], 12)
    per_patient = 8
    waves = [
        [run_command(practice["id"], p, [note(f"seq {w * 4 + i}")]) for p in people for i in range(4)]
        for w in range(per_patient // 4)
    ]
    a = start_runner(topic, "a")
    send(settings, topic, waves[0])
    b = start_runner(topic, "b")  # joins mid-stream: rebalance
    wait_for(lambda: b.runner.consumer.assigned, 30, what="the second runner's assignment")
    a.stop()  # leaves (static member: its partitions move after the session timeout)
    send(settings, topic, waves[1])
    run_ids = [c["runId"] for wave in waves for c in wave]
    wait_for(lambda: len(notes_of(engine, run_ids)) == len(run_ids), 60, 0.5, "every note")
    assert set(notes_of(engine, run_ids).values()) == {1}
    for p in people:
        bodies = rows(
            engine,
            "SELECT n.body FROM automation_action_logs l JOIN notes n ON n.run_id = l.run_id "
            "WHERE n.patient_id = :p ORDER BY l.id",
            p=p["id"],
        )
        assert [b.body for b in bodies] == [f"seq {i}" for i in range(per_patient)]


def test_a_command_that_keeps_hitting_serialization_failures_is_dead_lettered_after_its_retries(
    settings, engine, practice, start_runner, monkeypatch
):
    topic = create_topic(settings, partitions=1)
    (patient,) = patients(engine, practice["id"], 1)
    command = run_command(practice["id"], patient, [note("never")])
    attempts: list[int] = []

    def conflicting(conn, commands, *, attempt=1):
        attempts.append(attempt)
        # What PostgreSQL raises when a concurrent transaction wins (SQLSTATE 40001).
        conn.execute(text("SELECT 1"))
        raise OperationalError("UPDATE ...", {}, psycopg.errors.SerializationFailure("could not serialize"))

    runner = start_runner(topic)
    monkeypatch.setattr(runner.runner.consumer.executor, "execute", conflicting)
    send(settings, topic, [command])
    letters = wait_for(
        lambda: [dl for dl in read_dead_letters(settings) if dl.source_topic == topic] or None,
        30,
        0.5,
        "the dead letter",
    )
    assert [dl.reason for dl in letters] == ["retries_exhausted"]
    assert (
        "SerializationFailure" in letters[0].detail
        and f"failed {settings.max_retries} times" in letters[0].detail
    )
    # the batch (of one) was tried max_retries times, then the command alone as many times
    assert attempts == list(range(1, settings.max_retries + 1)) * 2
    wait_for(lambda: committed(settings, runner.group, topic, 1) == [1], 30, what="the offset to move on")
