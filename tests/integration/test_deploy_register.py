"""deploy/docker/register_connector.py (the compose one-shot and the Helm job) against the real
Kafka Connect of the test stack, with the shared connector file."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.support.processes import ROOT

pytestmark = pytest.mark.integration

SCRIPT = ROOT / "deploy" / "docker" / "register_connector.py"
CONNECTOR = ROOT / "deploy" / "connect" / "crmflow-outbox.json"


def test_registers_the_shared_connector_idempotently_and_waits_for_running(stack, settings):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(CONNECTOR), "--timeout", "90"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CRMFLOW_CONNECT_URL": settings.connect_url},
    )
    assert result.returncode == 0, result.stderr
    # The stack fixture registered it already: this run updates the same config.
    assert "connector crmflow-outbox: config updated" in result.stderr
    assert "connector crmflow-outbox: RUNNING" in result.stderr
    status = httpx.get(f"{settings.connect_url}/connectors/crmflow-outbox/status", timeout=10).json()
    assert status["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in status["tasks"]] == ["RUNNING"]


def test_fails_clearly_when_connect_is_unreachable():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(CONNECTOR), "--timeout", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "CRMFLOW_CONNECT_URL": "http://127.0.0.1:9"},
    )
    assert result.returncode != 0
    assert "Kafka Connect not reachable at http://127.0.0.1:9" in result.stderr
