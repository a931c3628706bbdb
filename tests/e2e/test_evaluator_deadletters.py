"""Bad events on the real broker are dead-lettered with their reason; the worker goes on.

Records are produced straight to crm.patient (as a foreign producer would) with one key, so they
share a partition and the good event after them is only evaluated if the worker survived them.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from confluent_kafka import Producer
from sqlalchemy import text

from crmflow import deadletter, topics
from crmflow.commands import run_id_for
from crmflow.envelope import MAX_EVENT_BYTES
from crmflow.kafka import producer_config
from tests.support.kafka import TopicTail, headers_of, value_of
from tests.support.processes import metric_total, wait_for
from tests.support.rules import create_rule

pytestmark = pytest.mark.e2e


def _envelope(practice_id: str, entity_id: str, **changes) -> dict:
    event = {
        "id": str(uuid.uuid4()),
        "practiceId": practice_id,
        "name": "crm/patient.created",
        "entityType": "patient",
        "entityId": entity_id,
        "occurredAt": "2026-11-25T10:00:00+00:00",
        "data": {"patient": {"id": entity_id, "lastName": "Direct"}},
        "correlationId": str(uuid.uuid4()),
        "causationId": None,
        "depth": 0,
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not ...}


def test_bad_events_are_dead_lettered_with_reasons_and_the_next_good_event_runs(
    api, services, engine, settings, practice
):
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent="crm/patient.created",
        conditionsJson={"field": "patient.lastName", "operator": "equals", "value": "Someone else"},
        actionsJson=[{"type": "create_note", "args": {"patientId": "{patientId}", "body": "never"}}],
    )
    key = str(uuid.uuid4())
    pid = practice["id"]

    def dumps(event: dict) -> bytes:
        return json.dumps(event).encode()

    big = _envelope(pid, key)
    big["data"]["padding"] = "x" * MAX_EVENT_BYTES
    bad: list[tuple[str, bytes | None]] = [
        ("not_json", b"{not json"),
        ("missing_practiceId", dumps(_envelope(pid, key, practiceId=...))),
        ("unknown_event", dumps(_envelope(pid, key, name="crm/patient.teleported"))),
        ("too_large", dumps(big)),
        ("data_not_object", dumps(_envelope(pid, key, data=[1, 2]))),
        ("empty", None),  # a tombstone
        ("empty", b""),
    ]
    good = _envelope(pid, key)
    evaluator = services["evaluator"]
    metrics_before = evaluator.metrics()
    tail = TopicTail(settings.kafka_bootstrap, topics.DEAD_LETTERS)
    producer = Producer(producer_config(settings))
    delivered: list = []
    try:
        for i, (_, value) in enumerate(bad):
            producer.produce(
                topics.PATIENT,
                key=key.encode(),
                value=value,
                headers=[("id", f"bad-{i}"), ("correlationId", f"corr-{i}")],
                on_delivery=lambda err, msg: delivered.append((err, msg)),
            )
        producer.produce(topics.PATIENT, key=key.encode(), value=dumps(good), on_delivery=lambda e, m: None)
        assert producer.flush(15) == 0
        assert [err for err, _ in delivered] == [None] * len(bad), "the broker refused a record"

        letters = [tail.find(lambda m: m.key() == key.encode(), timeout=20) for _ in bad]
    finally:
        tail.close()
    for i, ((reason, value), letter, (_, sent)) in enumerate(zip(bad, letters, delivered, strict=True)):
        headers = headers_of(letter)
        assert headers[deadletter.REASON] == reason
        assert headers[deadletter.SERVICE] == "evaluator"
        assert headers[deadletter.DETAIL]
        assert headers[deadletter.SOURCE_TOPIC] == topics.PATIENT
        assert headers[deadletter.SOURCE_PARTITION] == str(sent.partition())
        assert headers[deadletter.SOURCE_OFFSET] == str(sent.offset())
        assert (headers["id"], headers["correlationId"]) == (f"bad-{i}", f"corr-{i}")
        assert (letter.value() or b"") == (value or b""), "the original value is kept whole"
    assert len(value_of(letters[3])) > MAX_EVENT_BYTES

    # The good event after them was evaluated: its run is recorded (skipped, conditions false).
    def good_run():
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT status, rule_version FROM automation_runs WHERE id = CAST(:id AS uuid)"),
                {"id": run_id_for(good["id"], rule["id"])},
            ).first()

    assert tuple(wait_for(good_run, 15, what="the good event's run")) == ("skipped", 1)

    # Each reason's counter grew by its records (empty: two), not merely exists.
    counted = "crmflow_evaluator_dead_lettered_total"
    expected = Counter(reason for reason, _ in bad)

    def all_counted() -> bool:
        now = evaluator.metrics()
        return all(
            metric_total(now, counted, reason=r) - metric_total(metrics_before, counted, reason=r) >= n
            for r, n in expected.items()
        )

    wait_for(all_counted, 15, 0.5, f"{counted} to grow by {dict(expected)}")
    # Lag of the partition the records went to: back to 0 once the worker has committed past them.
    partition = delivered[0][1].partition()
    labels = frozenset({("partition", str(partition)), ("topic", topics.PATIENT)})
    series = ("crmflow_evaluator_consumer_lag", labels)
    wait_for(lambda: evaluator.metrics().get(series) == 0, 15, 0.5, f"{series} to be 0")
