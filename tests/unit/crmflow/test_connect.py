"""crmflow.connect's reading of Connect's status answers: failed/running, the error lines."""

from __future__ import annotations

from crmflow.connect import ConnectorStatus, first_line, root_cause

TRACE = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer.\n"
    "\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:63)\n"
    "Caused by: io.debezium.DebeziumException: Failed to create TypeRegistry\n"
    "\t... 5 more\n"
    "Caused by: org.postgresql.util.PSQLException: "
    "FATAL: terminating connection due to administrator command\n"
    "\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2904)\n"
)


def _status(connector: str, *tasks: str, trace: str | None = None) -> ConnectorStatus:
    return ConnectorStatus.from_json(
        {
            "name": "c",
            "connector": {"state": connector, "worker_id": "w"},
            "tasks": [{"id": i, "state": s, "worker_id": "w", "trace": trace} for i, s in enumerate(tasks)],
        }
    )


def test_first_line_and_root_cause_of_a_java_trace() -> None:
    assert first_line(TRACE) == (
        "org.apache.kafka.connect.errors.ConnectException: "
        "An exception occurred in the change event producer."
    )
    assert root_cause(TRACE) == (
        "org.postgresql.util.PSQLException: FATAL: terminating connection due to administrator command"
    )
    assert root_cause("java.lang.NullPointerException") == "java.lang.NullPointerException"
    assert first_line(None) is None and root_cause("") is None


def test_failed_when_the_connector_or_any_task_is_failed() -> None:
    assert _status("RUNNING", "RUNNING", "FAILED", trace=TRACE).failed
    assert _status("FAILED").failed
    assert not _status("RUNNING", "RUNNING").failed
    assert not _status("PAUSED", "PAUSED").failed


def test_running_needs_the_connector_and_every_task_and_at_least_one() -> None:
    assert _status("RUNNING", "RUNNING").running
    assert not _status("RUNNING").running
    assert not _status("RUNNING", "RUNNING", "UNASSIGNED").running


def test_the_error_is_the_failed_tasks_and_the_summary_is_for_shells() -> None:
    status = _status("RUNNING", "FAILED", trace=TRACE)
    assert status.error is not None and status.error.startswith("org.apache.kafka.connect.errors")
    assert status.cause is not None and "administrator command" in status.cause
    assert status.summary() == "RUNNING FAILED"
    assert _status("UNASSIGNED").summary() == "UNASSIGNED -"
    assert _status("RUNNING", "RUNNING", trace=TRACE).error is None  # a trace, but nothing failed
