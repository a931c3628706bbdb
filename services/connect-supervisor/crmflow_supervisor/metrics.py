"""Prometheus metrics of the connector supervisor (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RESTARTS = Counter(
    "crmflow_connector_restarts_total",
    "Restarts of a FAILED connector or task that the supervisor performed",
    ["connector"],
)
# One series per state, 1 for the current one (NOT_FOUND: not registered; UNREACHABLE: Connect down).
STATE = Gauge(
    "crmflow_connector_state", "The connector's state (1 for the current one)", ["connector", "state"]
)
TASKS = Gauge("crmflow_connector_tasks", "The connector's tasks by state", ["connector", "state"])
STATES = ("RUNNING", "FAILED", "PAUSED", "STOPPED", "UNASSIGNED", "RESTARTING", "NOT_FOUND", "UNREACHABLE")
TASK_STATES = ("RUNNING", "FAILED", "PAUSED", "UNASSIGNED", "RESTARTING")


def record_state(connector: str, state: str, task_states: list[str]) -> None:
    for s in {*STATES, state}:
        STATE.labels(connector, s).set(1 if s == state else 0)
    for s in {*TASK_STATES, *task_states}:
        TASKS.labels(connector, s).set(task_states.count(s))
