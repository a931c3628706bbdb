"""Prometheus metrics of the evaluator (served at /metrics by the Faust web server)."""

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
