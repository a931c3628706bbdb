"""deploy/docker/register_connector.py's failure report: the tasks' traces, plus what to do about
the failures this project knows (it runs for stack.sh register, the compose one-shot, the Helm job)."""

from __future__ import annotations

import importlib.util

from tests.support.processes import ROOT

_spec = importlib.util.spec_from_file_location(
    "register_connector", ROOT / "deploy" / "docker" / "register_connector.py"
)
assert _spec and _spec.loader
register_connector = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(register_connector)


def _status(trace: str) -> dict:
    return {
        "connector": {"state": "RUNNING"},
        "tasks": [{"id": 0, "state": "FAILED", "trace": trace}],
    }


def test_a_missing_publication_says_to_run_the_migrations():
    report = register_connector.traces(
        _status("ConnectException: Publication autocreation is disabled, please create one")
    )
    assert report.startswith("ConnectException: Publication autocreation is disabled")
    assert "hint: the publication the connector streams must exist first: run `crmflow migrate`" in report


def test_offsets_of_lost_wal_say_to_unregister():
    report = register_connector.traces(
        _status("Saved offset LSN 0/1A2B but this is no longer available on the server")
    )
    assert "`deploy/local/stack.sh unregister NAME`" in report


def test_an_unknown_failure_is_reported_without_a_hint():
    assert register_connector.traces(_status("NullPointerException")) == "NullPointerException"
