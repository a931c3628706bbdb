"""Building action-runner commands and reading their effects, for the runner's tests."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from sqlalchemy import Engine, text

from crmflow.commands import ActionCommandDict, RunCommandDict, SourceRecordDict, run_command_key
from crmflow.kafka import producer_config
from crmflow.settings import Settings
from crmflow.statuses import Evaluation
from crmflow_evaluator.evaluation import evaluate_event
from crmflow_evaluator.rules_index import RulesIndex
from crmflow_runner.bootstrap import Runner, bootstrap
from tests.support.rules import rule_record


def run_command(
    practice_id: str,
    patient: dict[str, Any],
    actions: list[dict[str, Any]],
    *,
    rule_id: str | None = None,
    depth: int = 0,
) -> RunCommandDict:
    """The matched RunCommand the evaluator sends for a crm/patient.created event of ``patient``
    and a rule (no conditions) with ``actions``: built by the evaluator's own ``evaluate_event``."""
    event_id = str(uuid.uuid4())
    rule_id = rule_id or str(uuid.uuid4())
    event = {
        "id": event_id,
        "practiceId": practice_id,
        "name": "crm/patient.created",
        "entityType": "patient",
        "entityId": patient["id"],
        "data": {"patient": patient},
        "correlationId": event_id,
        "causationId": None,
        "depth": depth,
        "occurredAt": "2026-11-25T10:00:00+00:00",
    }
    rule = rule_record(
        id=rule_id, practiceId=practice_id, name="t", triggerEvent=event["name"], actionsJson=actions
    )
    index = RulesIndex()
    index.apply(rule_id, json.dumps(rule).encode())
    source: SourceRecordDict = {"topic": "test", "partition": 0, "offset": 0, "timestamp": None}
    outcome = evaluate_event(event, index, max_depth=depth, source=source)
    (_, run) = outcome.messages
    assert run["kind"] == "run" and run["status"] == Evaluation.MATCHED, run
    return run


def appointment_event(
    practice_id: str,
    appointment: dict[str, Any],
    *,
    name: str = "crm/appointment.created",
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event of ``appointment`` (``{id, patientId, startsAt, status}``) as the outbox sends it."""
    event_id = str(uuid.uuid4())
    data: dict[str, Any] = {"appointment": dict(appointment), "patient": {"id": appointment["patientId"]}}
    if changes is not None:
        data["changes"] = changes
    return {
        "id": event_id,
        "practiceId": practice_id,
        "name": name,
        "entityType": "appointment",
        "entityId": appointment["id"],
        "data": data,
        "correlationId": event_id,
        "causationId": None,
        "depth": 0,
        "occurredAt": "2026-11-25T10:00:00+00:00",
    }


def evaluated(rule: dict[str, Any], event: dict[str, Any]) -> list[ActionCommandDict]:
    """The commands the evaluator emits for ``event`` with only ``rule`` (a rule record) loaded,
    without the EventEvaluated marker: re-plans and cancels, then the run if it triggers."""
    index = RulesIndex()
    index.apply(rule["id"], json.dumps(rule).encode())
    source: SourceRecordDict = {"topic": "test", "partition": 0, "offset": 0, "timestamp": None}
    return evaluate_event(event, index, max_depth=3, source=source).messages[1:]


def note(body: str = "Hello {patient.firstName}") -> dict[str, Any]:
    return {"type": "create_note", "args": {"patientId": "{patientId}", "body": body}}


def delay(seconds: int) -> dict[str, Any]:
    return {"type": "delay_seconds", "args": {"seconds": seconds}}


def wait_for_patient_update(on_timeout: str = "continue") -> dict[str, Any]:
    """A wait_for_event action awaiting the next update of the run's patient (for an hour)."""
    return {
        "type": "wait_for_event",
        "args": {
            "eventName": "crm/patient.updated",
            "match": "patient.id",
            "timeoutSeconds": 3600,
            "onTimeout": on_timeout,
        },
    }


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def run_status(engine: Engine, run_id: str) -> str | None:
    found = rows(engine, "SELECT status FROM automation_runs WHERE id = :r", r=run_id)
    return found[0].status if found else None


def notes_per_patient(engine: Engine, practice_id: str) -> dict[str, int]:
    """Patient id -> how many notes the practice's patients have (exactly-once checks)."""
    found = rows(
        engine,
        "SELECT patient_id::text AS patient, count(*) AS n FROM notes WHERE practice_id = :p GROUP BY 1",
        p=practice_id,
    )
    return {r.patient: int(r.n) for r in found}


def note_bodies(engine: Engine, run_id: str) -> list[str]:
    return [
        r.body for r in rows(engine, "SELECT body FROM notes WHERE run_id = :r ORDER BY created_at", r=run_id)
    ]


def create_topic(settings: Settings, partitions: int = 2) -> str:
    """A private commands topic, so a test's runner never competes with the service's."""
    name = f"test.commands.{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(15)
    return name


def send(
    settings: Settings,
    topic: str,
    commands: Sequence[ActionCommandDict | bytes],
    *,
    key: bytes | None = None,
) -> None:
    """Produce commands keyed like the evaluator does, or all with ``key`` (raw bytes are sent as
    they are)."""
    producer = Producer(producer_config(settings))
    for c in commands:
        if isinstance(c, bytes):
            producer.produce(topic, key=b"poison", value=c)
        else:
            if key is None and c["kind"] != "run":
                raise ValueError("only a run command's key is known: pass key=")
            keyed = key if key is not None else run_command_key(cast(RunCommandDict, c))
            producer.produce(topic, key=keyed, value=json.dumps(c).encode())
    assert producer.flush(15) == 0


class Started:
    """A runner (consumer + scheduler threads) of a test, stopped at teardown."""

    def __init__(
        self, settings: Settings, topic: str, group: str, instance: str, *, deliveries: bool = False
    ) -> None:
        self.group = group
        self.runner: Runner = bootstrap(settings, topic=topic, group_id=group, instance_id=instance)
        self.threads = [
            threading.Thread(target=self.runner.consumer.run, daemon=True),
            threading.Thread(target=self.runner.scheduler.run, daemon=True),
        ]
        for t in self.threads:
            t.start()
        if deliveries:  # the delivery worker's threads too (they stop with the runner)
            self.threads += self.runner.deliveries.start()

    def stop(self) -> None:
        if self.runner.stop.is_set():
            return
        self.runner.stop.set()
        for t in self.threads:
            t.join(30)
        self.runner.consumer.consumer.close()


def runner_starter(settings: Settings) -> Iterator[Callable[..., Started]]:
    """Body of a ``start_runner`` fixture: start(topic, instance) -> a running runner."""
    started: list[Started] = []
    group = f"test-runner-{uuid.uuid4().hex[:8]}"

    def start(topic: str, instance: str = "a", *, deliveries: bool = False) -> Started:
        started.append(Started(settings, topic, group, f"{group}-{instance}", deliveries=deliveries))
        return started[-1]

    yield start
    for s in started:
        s.stop()
