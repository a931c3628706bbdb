"""crmflow.connector_registration's failure report: the tasks' traces, plus what to do about the
failures this project knows (it runs for stack.sh register, the compose one-shot, the Helm job)."""

from __future__ import annotations

from crmflow.connect import ConnectorStatus
from crmflow.connector_registration import traces


def _status(trace: str) -> ConnectorStatus:
    return ConnectorStatus.from_json(
        {
            "name": "c",
            "connector": {"state": "RUNNING"},
            "tasks": [{"id": 0, "state": "FAILED", "trace": trace}],
        }
    )


def test_a_missing_publication_says_to_run_the_migrations() -> None:
    report = traces(_status("ConnectException: Publication autocreation is disabled, please create one"))
    assert report.startswith("ConnectException: Publication autocreation is disabled")
    assert "hint: the publication the connector streams must exist first: run `crmflow migrate`" in report


def test_offsets_of_lost_wal_say_to_recover() -> None:
    report = traces(_status("Saved offset LSN 0/1A2B but this is no longer available on the server"))
    assert "`crmflow connector recover`" in report


def test_an_unknown_failure_is_reported_without_a_hint() -> None:
    assert traces(_status("NullPointerException")) == "NullPointerException"
