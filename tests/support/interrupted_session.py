"""A test session to be interrupted (tests/integration/test_test_sessions.py runs it in a pytest
of its own, never collected otherwise): its one test starts a runner, writes the runner's pid
to $CRMFLOW_TEST_PID_FILE, and waits to be interrupted."""

from __future__ import annotations

import os
import time
from pathlib import Path

from crmflow.settings import Settings
from tests.support.processes import wait_for
from tests.support.slot import make_service


def test_a_session_interrupted_while_a_service_runs() -> None:
    service = make_service("runner", Settings())
    service.launch()
    wait_for(lambda: service.pid_path.exists(), 30, what="the pid file")
    Path(os.environ["CRMFLOW_TEST_PID_FILE"]).write_text(str(service.pid))
    time.sleep(600)
