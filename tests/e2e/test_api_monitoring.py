"""The seed's monitoring queries and troubleshooting steps, run as written against the real system,
and the publisher route reporting the CDC pipeline (a second API process with INTERNAL_API_KEY)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from sqlalchemy import Engine, text

from crmflow import cdc
from tests.support.outbox import write_patient_event
from tests.support.processes import Service, wait_for
from tests.support.rules import note_rule

pytestmark = pytest.mark.e2e

INTERNAL_KEY = "test-internal-key-3f9a"
# Verbatim from seed/automation-system.md, "Monitoring".
SEED_RUNS_SQL = """SELECT * FROM automation_runs
WHERE practice_id = 'your-practice-id'
ORDER BY started_at DESC
LIMIT 10;"""
SEED_LOGS_SQL = """SELECT * FROM automation_action_logs
WHERE practice_id = 'your-practice-id'
ORDER BY created_at DESC
LIMIT 20;"""
WAL_AND_SLOT_SQL = """SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS wal,
       pg_wal_lsn_diff(confirmed_flush_lsn, '0/0') AS flushed
FROM pg_replication_slots WHERE slot_name = :slot"""


@pytest.fixture(scope="module")
def internal_api(services, settings, run_dir):
    """The rules-api with the internal key set, beside the session's (which has it unset)."""
    port = settings.api_port + 5
    service = Service(
        "api-internal",
        "crmflow_api",
        port,
        run_dir / "logs",
        env={"INTERNAL_API_KEY": INTERNAL_KEY, "CRMFLOW_API_PORT": str(port)},
    )
    service.start()
    yield service
    service.stop()


def publish(url: str, *headers: str) -> subprocess.CompletedProcess:
    """The seed's publisher curl, with the internal key header."""
    return subprocess.run(
        ["curl", "-sS", "-X", "POST", f"{url}/api/internal/outbox/publish", *headers, "-w", "\n%{http_code}"],
        capture_output=True,
        text=True,
        timeout=20,
    )


def wal_and_slot(engine: Engine) -> tuple[int, int]:
    """(WAL written, WAL the connector's slot has confirmed), in bytes."""
    with engine.connect() as conn:
        row = conn.execute(text(WAL_AND_SLOT_SQL), {"slot": cdc.SLOT}).one()
    return int(row.wal), int(row.flushed)


def test_seed_monitoring_sql_shows_runs_and_action_logs(api, services, engine, practice):
    rule = note_rule(api, services["evaluator"], body="Checked in")
    patient = api.post("/api/patients", json={"firstName": "Lena", "lastName": "Moss"}).json()
    wait_for(lambda: api.get(f"/api/patients/{patient['id']}/notes").json(), 10, what="the note")
    pid = practice["id"]
    with engine.connect() as conn:
        runs = conn.execute(text(SEED_RUNS_SQL.replace("your-practice-id", pid))).mappings().all()
        logs = conn.execute(text(SEED_LOGS_SQL.replace("your-practice-id", pid))).mappings().all()
    assert [(str(r["rule_id"]), r["status"]) for r in runs] == [(rule["id"], "succeeded")]
    assert [(a["action_type"], a["status"], str(a["run_id"])) for a in logs] == [
        ("create_note", "succeeded", str(runs[0]["id"]))
    ]


def test_troubleshooting_events_not_triggering(services, internal_api, engine, practice, settings):
    # An event no evaluator can run (unknown name): it is dead-lettered and stays pending, so
    # "SELECT * FROM outbox_events WHERE status = 'pending'" is where it shows up.
    with engine.begin() as conn:
        stuck = write_patient_event(conn, practice["id"], name="crm/patient.archived", data={"patient": {}})
    try:
        time.sleep(1.5)  # long enough for the pipeline to have handled a good event
        with engine.connect() as conn:
            pending = (
                conn.execute(text("SELECT * FROM outbox_events WHERE status = 'pending';")).mappings().all()
            )
        assert stuck["id"] in {str(r["id"]) for r in pending}

        with engine.begin() as conn:  # WAL the slot confirms only at the next heartbeat: a lag
            conn.execute(text("UPDATE practices SET name = name WHERE id = :p"), {"p": practice["id"]})
        wal_before, flushed_before = wal_and_slot(engine)
        result = publish(internal_api.url, "-H", f"X-Internal-Api-Key: {INTERNAL_KEY}")
        wal_after, flushed_after = wal_and_slot(engine)
        body, status = result.stdout.rsplit("\n", 1)
        assert status == "200", result.stdout + result.stderr
        report = json.loads(body)
        assert report["connector"]["name"] == "crmflow-outbox"
        assert report["connector"]["state"] == "RUNNING"
        assert [t["state"] for t in report["connector"]["tasks"]] == ["RUNNING"]
        slot = report["replicationSlot"]
        assert (slot["name"], slot["exists"], slot["active"]) == (cdc.SLOT, True, True)
        # The slot's lag as PostgreSQL had it while the route ran: WAL written minus WAL
        # confirmed, both of which only grow, so the route's figure lies between these two.
        assert wal_before - flushed_after <= slot["lagBytes"] <= wal_after - flushed_before
        assert report["pendingRows"] >= 1 and report["oldestPendingSeconds"] >= 1.0
        # Restarts as the connect-supervisor of the stack counts them (stack.sh start all runs it).
        restarts = report["restarts"]
        assert restarts["source"] == settings.supervisor_url
        assert isinstance(restarts["count"], int) and restarts["count"] >= 0
        assert set(restarts) >= {"lastRestartAt", "lastError", "lastCause"}

        # As written in the seed (no key): refused, never open; with a wrong key: 401.
        assert publish(internal_api.url).stdout.endswith("401")
        assert publish(internal_api.url, "-H", "X-Internal-Api-Key: wrong").stdout.endswith("401")
        assert publish(services["api"].url, "-H", f"X-Internal-Api-Key: {INTERNAL_KEY}").stdout.endswith(
            "403"
        )
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM outbox_events WHERE id = :id"), {"id": stuck["id"]})
