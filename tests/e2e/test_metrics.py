"""/metrics of the three real services move when an event flows, and when a poison record arrives.

These are the series deploy/grafana/crmflow-dashboard.json charts. Counters are compared before and
after (other tests share the services), by their Prometheus text as a scraper reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from crmflow import deadletter, topics
from crmflow.kafka import producer_config
from tests.support.kafka import TopicTail, headers_of
from tests.support.processes import Samples, Service, metric_total, wait_for
from tests.support.rules import note_rule

pytestmark = pytest.mark.e2e


def wait_until_moved(service: Service, before: Samples, expected: dict[tuple, float]) -> Samples:
    """Scrape until every (name, labels) counter grew by at least its expected amount."""

    def grown() -> Samples | None:
        now = service.metrics()
        for (name, labels), amount in expected.items():
            if metric_total(now, name, **dict(labels)) - metric_total(before, name, **dict(labels)) < amount:
                return None
        return now

    return wait_for(grown, 15, 0.2, f"{service.name} counters to move: {expected}")


def series(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(labels.items())


def test_counters_of_every_service_move_when_an_event_flows(api, services):
    evaluator, runner, rules_api = services["evaluator"], services["runner"], services["api"]
    note_rule(api, evaluator, body="Metrics {patient.firstName}")
    before_eval, before_run, before_api = evaluator.metrics(), runner.metrics(), rules_api.metrics()

    response = api.post("/api/patients", json={"firstName": "Ada", "lastName": "Metrics"})
    assert response.status_code == 201, response.text
    patient_id = response.json()["id"]
    wait_for(lambda: api.get(f"/api/patients/{patient_id}/notes").json(), 10, what="the note")

    wait_until_moved(
        evaluator,
        before_eval,
        {
            series("crmflow_evaluator_events_consumed_total", topic=topics.PATIENT): 1,
            series("crmflow_evaluator_evaluations_total", status="matched"): 1,
            series("crmflow_evaluator_event_age_seconds_count"): 1,
        },
    )
    wait_until_moved(
        runner,
        before_run,
        {
            series("crmflow_runner_commands_consumed_total", kind="event"): 1,
            series("crmflow_runner_commands_consumed_total", kind="run"): 1,
            series("crmflow_runner_runs_total", status="succeeded"): 1,
            series("crmflow_runner_actions_total", type="create_note", status="succeeded"): 1,
            series("crmflow_end_to_end_seconds_count"): 1,
        },
    )
    wait_until_moved(
        rules_api,
        before_api,
        {
            series("crmflow_api_requests_total", method="POST", route="/api/patients", status="201"): 1,
            series("crmflow_api_request_seconds_count", method="POST", route="/api/patients"): 1,
        },
    )


def _produce(settings, topic: str, key: bytes, value: bytes) -> None:
    producer = Producer(producer_config(settings))
    errors: list = []
    producer.produce(topic, key=key, value=value, on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(10) == 0
    assert errors == [None]


@pytest.mark.parametrize(
    ("service_name", "topic", "metric", "key"),
    [
        ("evaluator", topics.PATIENT, "crmflow_evaluator_dead_lettered_total", lambda: uuid.uuid4().hex),
        (
            "runner",
            topics.COMMANDS,
            "crmflow_runner_dead_lettered_total",
            lambda: f"{uuid.uuid4()}:{uuid.uuid4()}",
        ),
    ],
    ids=["evaluator", "action-runner"],
)
def test_dead_lettered_count_moves_after_a_poison_record(
    services, settings, service_name: str, topic: str, metric: str, key: Callable[[], str]
):
    service = services[service_name]
    before = service.metrics()
    record_key = key().encode()
    tail = TopicTail(settings.kafka_bootstrap, topics.DEAD_LETTERS)
    try:
        _produce(settings, topic, record_key, b"{poison, not json")
        dead = tail.find(lambda m: m.key() == record_key, timeout=15)
    finally:
        tail.close()
    headers = headers_of(dead)
    assert headers[deadletter.REASON] == "not_json"
    assert headers[deadletter.SOURCE_TOPIC] == topic

    after = wait_until_moved(service, before, {series(metric, reason="not_json"): 1})
    assert metric_total(after, metric) - metric_total(before, metric) >= 1
