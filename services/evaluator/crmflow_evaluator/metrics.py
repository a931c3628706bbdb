"""Prometheus metrics of the evaluator (served at /metrics by the Faust web server)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter("crmflow_evaluator_events_consumed_total", "Events read", ["topic"])
EVALUATIONS = Counter("crmflow_evaluator_evaluations_total", "Rule evaluations by outcome", ["status"])
DEAD_LETTERED = Counter("crmflow_evaluator_dead_lettered_total", "Events dead-lettered", ["reason"])
RULES_LOADED = Gauge("crmflow_evaluator_rules_loaded", "Rules held in the in-memory index")
BATCH_SECONDS = Histogram(
    "crmflow_evaluator_batch_seconds",
    "Time to evaluate and publish one batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EVENT_AGE_SECONDS = Histogram(
    "crmflow_evaluator_event_age_seconds",
    "Kafka record timestamp -> evaluated",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CONSUMER_LAG = Gauge(
    "crmflow_evaluator_consumer_lag",
    "Records behind per event-topic partition: log end offset - committed offset "
    "(before this worker's first commit of a partition: its last read offset + 1, or the "
    "consumer's position when it has read nothing yet)",
    ["topic", "partition"],
)


def update_consumer_lag(
    assigned: Iterable[Any],
    end_offsets: Mapping[Any, int | None],
    committed: Mapping[Any, int],
    read: Mapping[Any, int],
    positions: Mapping[Any, int | None],
) -> None:
    """Set CONSUMER_LAG for the partitions this worker holds (``tp`` has .topic and .partition).

    Offsets come from the consumer (its fetch positions and high watermarks) and Faust's
    monitor (commits, reads), all known locally: a scrape costs no broker round trip. Partitions
    not held any more are dropped.
    """
    current: set[tuple[str, str]] = set()
    for tp in assigned:
        end = end_offsets.get(tp)
        done = committed.get(tp)
        if done is None:
            done = read[tp] + 1 if tp in read else positions.get(tp)
        if end is None or done is None:
            continue
        labels = (tp.topic, str(tp.partition))
        current.add(labels)
        CONSUMER_LAG.labels(*labels).set(max(0, end - done))
    for labels in _held_labels() - current:
        CONSUMER_LAG.remove(*labels)


def _held_labels() -> set[tuple[str, str]]:
    return {
        (s.labels["topic"], s.labels["partition"])
        for metric in CONSUMER_LAG.collect()
        for s in metric.samples
    }
