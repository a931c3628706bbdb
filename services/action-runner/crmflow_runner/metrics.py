"""Prometheus metrics of the action-runner (served at /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter("crmflow_runner_commands_consumed_total", "Commands read", ["kind"])
RUNS = Counter("crmflow_runner_runs_total", "Runs by status reached", ["status"])
ACTIONS = Counter("crmflow_runner_actions_total", "Actions by type and outcome", ["type", "status"])
DUPLICATES = Counter("crmflow_runner_duplicate_commands_total", "Redelivered commands ignored")
DEAD_LETTERED = Counter("crmflow_runner_dead_lettered_total", "Commands dead-lettered", ["reason"])
RETRIES = Counter("crmflow_runner_retries_total", "Transient failures retried", ["kind"])
BATCH_SECONDS = Histogram(
    "crmflow_runner_batch_seconds",
    "Time to execute and commit one batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
END_TO_END_SECONDS = Histogram(
    "crmflow_end_to_end_seconds",
    "Event occurredAt -> effects committed",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMER_LAG = Gauge("crmflow_runner_consumer_lag", "Commands not yet consumed", ["partition"])
WAITING_RESUMES = Gauge("crmflow_runner_scheduled_resumes", "Delayed runs waiting to resume")
SIGNALS = Counter(
    "crmflow_runner_awaited_events_total",
    "Awaited events (wait_for_event): recorded, waiting runs resumed by them, waits that took "
    "one already recorded",
    ["outcome"],
)
DELIVERIES = Counter(
    "crmflow_runner_deliveries_total", "Delivery attempts by channel and outcome", ["channel", "outcome"]
)
