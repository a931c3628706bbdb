"""The connect-supervisor heals a FAILED Debezium task: no call from the test restarts it.

The fault is the one CI met (issue 13): Kafka Connect restarts while PostgreSQL cuts the task's
sessions as it starts (here: every Debezium backend terminated, as a PostgreSQL restart does). The
task dies "unrecoverable" and Connect leaves it FAILED. Patients created while it is FAILED wait in
the replication slot; once PostgreSQL stops cutting sessions, the supervisor's next restart (with
backoff) brings the task back to RUNNING and every waiting event is executed, once.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from crmflow.connect import ConnectClient, ConnectorStatus
from crmflow.settings import Settings
from tests.support.processes import ROOT, Service, wait_for
from tests.support.rules import note_rule
from tests.support.runner import notes_per_patient

pytestmark = pytest.mark.integration

STACK = str(ROOT / "deploy" / "local" / "stack.sh")
PATIENTS = 20
# Debezium names its sessions "Debezium General" and "Debezium Streaming" (pg_stat_activity).
_CUT = text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'Debezium%'"
)


@contextmanager
def debezium_sessions_cut(engine: Engine) -> Iterator[None]:
    """PostgreSQL terminates every Debezium session as soon as it appears, for the block."""
    stop = threading.Event()

    def cut() -> None:
        with engine.connect() as conn:
            while not stop.is_set():
                conn.execute(_CUT)
                conn.commit()
                stop.wait(0.05)

    cutter = threading.Thread(target=cut, name="cut-debezium")
    cutter.start()
    try:
        yield
    finally:
        stop.set()
        cutter.join(10)


def _supervisor_status(settings: Settings) -> dict:
    assert settings.supervisor_url
    return httpx.get(f"{settings.supervisor_url}/status", timeout=5).json()


def _failed(client: ConnectClient, name: str) -> ConnectorStatus | None:
    status = client.status(name)
    return status if status is not None and status.failed else None


def test_a_failed_task_runs_again_without_a_call_and_its_events_are_executed(
    services: dict[str, Service],
    api: httpx.Client,
    engine: Engine,
    settings: Settings,
    practice: dict[str, str],
) -> None:
    note_rule(api, services["evaluator"], body="healed {patientId}")
    before = _supervisor_status(settings)["restarts"]
    name = settings.connector_name

    with ConnectClient(settings.connect_url) as client:
        with debezium_sessions_cut(engine):
            subprocess.run(
                [STACK, "restart", "connect"], check=True, cwd=ROOT, capture_output=True, timeout=180
            )
            failed = wait_for(lambda: _failed(client, name), 90, 0.3, "the task to be FAILED")
            # Debezium's start failed on a cut session; the exact message depends on where it was
            # cut ("terminating connection due to administrator command", an I/O error, ...).
            assert "DebeziumException" in failed.traces or "PSQLException" in failed.traces, failed.traces
            created = []
            for i in range(PATIENTS):
                response = api.post("/api/patients", json={"firstName": f"H{i}", "lastName": "Healed"})
                assert response.status_code == 201, response.text
                created.append(response.json()["id"])
        # From here on the test only watches: no restart call.
        wait_for(lambda: (s := client.status(name)) is not None and s.running, 120, 0.5, "RUNNING again")

    status = _supervisor_status(settings)
    assert status["restarts"] > before
    assert status["lastError"]
    assert status["lastCause"]  # the innermost "Caused by" of the trace it restarted

    wait_for(
        lambda: len(notes_per_patient(engine, practice["id"])) == PATIENTS,
        120,
        0.5,
        "a note for every patient created while FAILED",
    )
    assert notes_per_patient(engine, practice["id"]) == dict.fromkeys(created, 1)
    with ConnectClient(settings.connect_url) as client:
        healed = client.status(name)
    assert healed is not None and healed.running


@pytest.mark.parametrize("connect_url", ["http://127.0.0.1:9", "http://10.255.255.1:8083"])
def test_exits_within_10_s_of_sigterm_with_connect_down(connect_url: str, run_dir: Path) -> None:
    """Connect refusing (port 9) or not answering at all (a black-holed address: every call
    waits for its timeout): SIGTERM still ends the supervisor within 10 s."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    service = Service(
        "supervisor-sigterm",
        "crmflow_supervisor",
        port,
        run_dir / "logs",
        env={"CRMFLOW_CONNECT_URL": connect_url, "CRMFLOW_SUPERVISOR_PORT": str(port)},
    )
    service.start(timeout=30)
    time.sleep(1)  # in the middle of a poll
    assert service.proc is not None
    started = time.monotonic()
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(timeout=10) == 0
    print(f"stopped {time.monotonic() - started:.2f} s after SIGTERM (Connect at {connect_url})")
