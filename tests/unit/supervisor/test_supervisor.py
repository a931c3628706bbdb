"""The supervision loop against a scripted Connect: what it restarts, reports and counts."""

from __future__ import annotations

from crmflow.connect import ConnectClient, ConnectError, ConnectorStatus
from crmflow_supervisor.backoff import BackoffPolicy
from crmflow_supervisor.metrics import RESTARTS, STATE
from crmflow_supervisor.supervisor import Supervisor

TRACE = (
    "io.debezium.DebeziumException: Unable to get last available log position\n"
    "\tat io.debezium.connector.postgresql.PostgresConnectorTask.start(PostgresConnectorTask.java:120)\n"
    "Caused by: org.postgresql.util.PSQLException: FATAL: terminating connection due to administrator command"
)


def _status(task_state: str, trace: str | None = None) -> ConnectorStatus:
    return ConnectorStatus.from_json(
        {
            "name": "outbox",
            "connector": {"state": "RUNNING", "worker_id": "w:8083"},
            "tasks": [{"id": 0, "state": task_state, "worker_id": "w:8083", "trace": trace}],
        }
    )


class ScriptedConnect(ConnectClient):
    """Answers each status call with the next of ``script`` (None: not registered; an exception:
    Connect down); records restarts, and the task is RUNNING after one."""

    def __init__(self, script: list[ConnectorStatus | ConnectError | None]) -> None:
        super().__init__("http://connect.invalid")
        self.script = script
        self.restarts: list[str] = []

    def status(self, name: str) -> ConnectorStatus | None:
        answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(answer, ConnectError):
            raise answer
        return answer

    def restart_failed(self, name: str) -> None:
        self.restarts.append(name)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _supervise(
    script: list[ConnectorStatus | ConnectError | None], polls: int
) -> tuple[Supervisor, list[str]]:
    connect = ScriptedConnect(script)
    clock = Clock()
    supervisor = Supervisor(connect, "outbox", BackoffPolicy(initial_seconds=2, max_seconds=8), clock)
    for _ in range(polls):
        supervisor.poll()
        clock.now += 1
    return supervisor, connect.restarts


def test_a_failed_task_is_restarted_after_the_initial_delay_and_reported() -> None:
    before = RESTARTS.labels("outbox")._value.get()
    supervisor, restarts = _supervise(
        [_status("FAILED", TRACE), _status("FAILED", TRACE), _status("FAILED", TRACE), _status("RUNNING")], 5
    )
    assert restarts == ["outbox"]
    report = supervisor.status()
    assert report["restarts"] == 1
    assert report["lastError"] == "io.debezium.DebeziumException: Unable to get last available log position"
    assert report["lastRestartAt"] is not None
    assert report["state"] == "RUNNING" and report["tasks"][0]["state"] == "RUNNING"
    assert RESTARTS.labels("outbox")._value.get() == before + 1
    assert STATE.labels("outbox", "RUNNING")._value.get() == 1
    assert STATE.labels("outbox", "FAILED")._value.get() == 0


def test_a_task_that_keeps_failing_is_restarted_with_growing_waits() -> None:
    _, restarts = _supervise([_status("FAILED", TRACE)], 30)
    assert len(restarts) == 4  # at 2, 6, 14, 22 s (8 s cap)


def test_connect_down_or_no_connector_restarts_nothing_and_says_so() -> None:
    supervisor, restarts = _supervise([ConnectError("refused")], 3)
    assert restarts == [] and supervisor.status()["state"] == "UNREACHABLE"
    assert supervisor.status()["error"] == "refused"
    supervisor, restarts = _supervise([None], 3)
    assert restarts == [] and supervisor.status()["state"] == "NOT_FOUND"
