"""SIGKILL the action-runner mid-stream and restart it: no note lost, none duplicated."""

from __future__ import annotations

import threading
import time
from functools import partial

import pytest
from sqlalchemy import text

from tests.support.processes import wait_for
from tests.support.rules import note_rule

pytestmark = pytest.mark.e2e
PATIENTS = 300


def test_sigkilled_runner_loses_and_duplicates_nothing(api, services, engine, practice):
    rule = note_rule(api, services["evaluator"], body="note for {patientId}")
    created: list[str] = []
    errors: list[str] = []

    def stream() -> None:
        for i in range(PATIENTS):
            r = api.post("/api/patients", json={"firstName": f"P{i}", "lastName": "Crash"})
            (created.append(r.json()["id"]) if r.status_code == 201 else errors.append(r.text))
            time.sleep(0.005)

    def at_least(n: int) -> bool:
        return len(created) >= n

    writer = threading.Thread(target=stream)
    writer.start()
    runner = services["runner"]
    for kill_after in (60, 180):
        wait_for(partial(at_least, kill_after), 60, what=f"{kill_after} patients")
        runner.kill()  # SIGKILL: no chance to finish the batch or commit offsets
        time.sleep(0.5)
        runner.start()
    writer.join()
    assert errors == []

    def notes_per_patient() -> dict[str, int]:
        with engine.connect() as conn:
            return dict(
                conn.execute(
                    text(
                        "SELECT patient_id::text, count(*) FROM notes WHERE practice_id = :p "
                        "GROUP BY patient_id"
                    ),
                    {"p": practice["id"]},
                ).all()
            )

    wait_for(lambda: len(notes_per_patient()) == PATIENTS, 90, 0.5, "a note for every patient")
    counts = notes_per_patient()
    assert set(counts) == set(created)
    assert set(counts.values()) == {1}, "some patient got more than one note"
    with engine.connect() as conn:
        runs = conn.execute(
            text("SELECT status, count(*) FROM automation_runs WHERE rule_id = :r GROUP BY status"),
            {"r": rule["id"]},
        ).all()
    assert dict(runs) == {"succeeded": PATIENTS}
