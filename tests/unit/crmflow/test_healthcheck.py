"""crmflow.healthcheck finds the service a container runs from its first process's command."""

from __future__ import annotations

import pytest

from crmflow.healthcheck import service_port
from crmflow.settings import Settings

SETTINGS = Settings(api_port=9000, evaluator_port=9001, runner_port=9002)


@pytest.mark.parametrize(
    ("argv", "port"),
    [
        (["/opt/crmflow/venv/bin/python", "/opt/crmflow/venv/bin/crmflow-api", ""], 9000),
        (["/opt/crmflow/venv/bin/crmflow-evaluator"], 9001),
        (["python3", "/usr/local/bin/crmflow-runner"], 9002),
    ],
)
def test_a_service_command_gives_its_settings_port(argv, port):
    assert service_port(argv, SETTINGS) == port


@pytest.mark.parametrize(
    "argv",
    [
        ["sh", "-c", "crmflow migrate && crmflow topics create"],
        ["python", "/opt/crmflow/register_connector.py", "/etc/crmflow/connect/crmflow-outbox.json"],
        ["python", "-c", "crmflow-api"],
        [""],
    ],
)
def test_a_job_serves_no_http(argv):
    assert service_port(argv, SETTINGS) is None
