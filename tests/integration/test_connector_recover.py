"""`stack.sh recover` (crmflow connector recover) after the replication slot was dropped while
events were being written: which events are read again, and effects that stay exactly once.

The slot is dropped the hard way (its walsender terminated, then pg_drop_replication_slot before
Debezium reconnects), so what was written while no slot existed never reaches Kafka by itself. The
recovery re-creates connector and slot and re-emits the outbox rows still pending; the runner
dedupes what had been streamed already.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

import httpx
import pytest
from sqlalchemy import Engine, text

from crmflow.connect import ConnectClient
from crmflow.settings import Settings
from tests.support.processes import ROOT, Service, wait_for
from tests.support.rules import note_rule
from tests.support.runner import notes_per_patient

pytestmark = pytest.mark.integration

STACK = str(ROOT / "deploy" / "local" / "stack.sh")
SLOT = "crmflow_outbox"
PATIENTS = 120
DROP_AFTER = 40


def _drop_slot(engine: Engine) -> bool:
    """Terminate the slot's walsender and drop the slot before Debezium is back; True once gone."""
    with engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                "WHERE slot_name = :s AND active"
            ),
            {"s": SLOT},
        )
        try:
            conn.execute(text("SELECT pg_drop_replication_slot(:s)"), {"s": SLOT})
        except Exception:  # still active for a moment, or already gone
            conn.rollback()
        conn.commit()
        return (
            conn.execute(text("SELECT 1 FROM pg_replication_slots WHERE slot_name = :s"), {"s": SLOT}).first()
            is None
        )


def test_a_dropped_slot_is_recovered_and_effects_stay_exactly_once(
    services: dict[str, Service],
    api: httpx.Client,
    engine: Engine,
    settings: Settings,
    practice: dict[str, str],
) -> None:
    rule = note_rule(api, services["evaluator"], body="once {patientId}")
    created: list[str] = []
    errors: list[str] = []

    def write() -> None:
        for i in range(PATIENTS):
            response = api.post("/api/patients", json={"firstName": f"S{i}", "lastName": "Slot"})
            (
                created.append(response.json()["id"])
                if response.status_code == 201
                else errors.append(response.text)
            )
            time.sleep(0.02)

    writer = threading.Thread(target=write, name="writer")
    writer.start()
    wait_for(lambda: len(created) >= DROP_AFTER, 60, 0.05, f"{DROP_AFTER} patients")
    wait_for(lambda: _drop_slot(engine), 30, 0.05, "the slot to be dropped")
    dropped_after = len(created)
    writer.join()
    assert errors == []
    assert dropped_after < PATIENTS, "the slot must be dropped while events are written"

    result = subprocess.run([STACK, "recover"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["connector"] == settings.connector_name and report["slot"] == SLOT

    with engine.connect() as conn:
        events: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT id::text, aggregate_id FROM outbox_events "
                    "WHERE practice_id = :p AND event_name = 'crm/patient.created'"
                ),
                {"p": practice["id"]},
            ).all()
        )
    assert sorted(events.values()) == sorted(created)
    reread = set(report["reemitted"]) & set(events)
    # The events written while no slot existed were pending and are read again: which, in write order.
    order = {patient: i for i, patient in enumerate(created)}
    positions = sorted(order[events[e]] for e in reread)
    print(f"slot dropped after patient #{dropped_after}; re-read {len(reread)} of {PATIENTS}: #{positions}")
    assert reread, "events written while the slot was gone must be re-emitted"
    assert positions[-1] >= dropped_after, "the last events were written after the drop"

    def runs_per_event() -> dict[str, int]:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT event_id::text, count(*) FROM automation_runs "
                    "WHERE rule_id = :r GROUP BY event_id"
                ),
                {"r": rule["id"]},
            ).all()
        return {event: int(n) for event, n in rows}

    wait_for(
        lambda: len(notes_per_patient(engine, practice["id"])) == PATIENTS,
        120,
        0.5,
        "a note for every patient",
    )
    wait_for(lambda: len(runs_per_event()) == PATIENTS, 60, 0.5, "a run for every event")
    time.sleep(2)  # a duplicate, if any, would land now
    assert notes_per_patient(engine, practice["id"]) == dict.fromkeys(created, 1)
    assert runs_per_event() == dict.fromkeys(events, 1)
    with engine.connect() as conn:
        statuses = conn.execute(
            text("SELECT DISTINCT status FROM outbox_events WHERE practice_id = :p"), {"p": practice["id"]}
        ).scalars()
        assert set(statuses) == {"published"}
        assert conn.execute(
            text("SELECT active FROM pg_replication_slots WHERE slot_name = :s"), {"s": SLOT}
        ).scalar()
    with ConnectClient(settings.connect_url) as client:
        status = client.status(settings.connector_name)
    assert status is not None and status.running
