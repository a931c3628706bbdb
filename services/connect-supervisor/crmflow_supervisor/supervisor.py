"""The supervision loop: poll the connector's status, restart it when FAILED (with backoff),
keep what /status and /metrics report. Talks to Kafka Connect only (no PostgreSQL, no Kafka)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crmflow.connect import ConnectClient, ConnectError
from crmflow_supervisor.backoff import Backoff, BackoffPolicy
from crmflow_supervisor.metrics import RESTARTS, record_state

log = logging.getLogger("crmflow_supervisor")


@dataclass
class Report:
    """What the supervisor last saw and did (GET /status; the rules-api's pipeline status)."""

    connector: str
    state: str = "UNKNOWN"
    tasks: list[dict[str, Any]] = field(default_factory=list)
    restarts: int = 0
    last_restart_at: str | None = None
    last_error: str | None = None
    last_cause: str | None = None
    checked_at: str | None = None
    error: str | None = None

    def as_json(self, next_restart_in: float | None) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "state": self.state,
            "tasks": self.tasks,
            "restarts": self.restarts,
            "lastRestartAt": self.last_restart_at,
            "lastError": self.last_error,
            "lastCause": self.last_cause,
            "nextRestartInSeconds": None if next_restart_in is None else round(next_restart_in, 1),
            "checkedAt": self.checked_at,
            "error": self.error,
        }


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Supervisor:
    def __init__(
        self,
        client: ConnectClient,
        connector: str,
        policy: BackoffPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.backoff = Backoff(policy)
        self.clock = clock
        self.report = Report(connector)
        self._lock = threading.Lock()
        RESTARTS.labels(connector)  # exported as 0 before the first restart

    def status(self) -> dict[str, Any]:
        with self._lock:
            return self.report.as_json(self.backoff.seconds_to_restart(self.clock()))

    def poll(self) -> None:
        """One look at the connector; restarts it when the backoff says so."""
        name = self.report.connector
        try:
            status = self.client.status(name)
        except ConnectError as exc:
            self._seen("UNREACHABLE", [], error=str(exc))
            return
        if status is None:
            self._seen("NOT_FOUND", [])
            self.backoff.observe(failed=False, healthy=False, now=self.clock())
            return
        tasks = [{"id": t.id, "state": t.state, "workerId": t.worker_id} for t in status.tasks]
        self._seen(status.state, tasks)
        if not self.backoff.observe(failed=status.failed, healthy=status.running, now=self.clock()):
            return
        error = status.error or f"{status.summary()} without a trace"
        cause = status.cause
        try:
            self.client.restart_failed(name)
        except ConnectError as exc:
            log.warning("connector restart failed", extra={"connector": name, "error": str(exc)})
            return
        RESTARTS.labels(name).inc()
        with self._lock:
            self.report.restarts += 1
            self.report.last_restart_at = _now_iso()
            self.report.last_error = error
            self.report.last_cause = cause
        log.warning(
            "restarted failed connector",
            extra={
                "connector": name,
                "states": status.summary(),
                "restart": self.backoff.attempts,
                "nextDelaySeconds": self.backoff.policy.delay(self.backoff.attempts),
                "failure": error,
                "cause": cause,
            },
        )

    def _seen(self, state: str, tasks: list[dict[str, Any]], error: str | None = None) -> None:
        record_state(self.report.connector, state, [t["state"] for t in tasks])
        with self._lock:
            if state != self.report.state:
                log.info("connector state", extra={"connector": self.report.connector, "state": state})
            self.report.state = state
            self.report.tasks = tasks
            self.report.checked_at = _now_iso()
            self.report.error = error

    def run(self, stop: threading.Event, interval: float) -> None:
        while not stop.is_set():
            self.poll()
            stop.wait(interval)
