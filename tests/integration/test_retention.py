"""Retention on real PostgreSQL with backdated rows: old payloads, traces and args are emptied in
batches (ids, statuses and timestamps stay); rows still needed and rows inside the window are not."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from crmflow.retention import ADVISORY_LOCK, run_retention
from crmflow.settings import Settings
from tests.support.outbox import write_patient_event
from tests.support.processes import ROOT, wait_for
from tests.support.slot import make_service

pytestmark = pytest.mark.integration

OLD = "45 days"
RECENT = "2 days"


def event(conn: Connection, practice_id: str, *, age: str, status: str = "published") -> str:
    envelope = write_patient_event(conn, practice_id)
    conn.execute(
        text(
            "UPDATE outbox_events SET created_at = clock_timestamp() - CAST(:age AS interval), "
            "status = :status WHERE id = CAST(:id AS uuid)"
        ),
        {"age": age, "status": status, "id": envelope["id"]},
    )
    return str(envelope["id"])


def run(conn: Connection, practice_id: str, *, age: str, status: str) -> str:
    run_id = str(uuid.uuid4())
    conn.execute(
        text(
            """
            INSERT INTO automation_runs (id, practice_id, rule_id, rule_version, event_id, event_name,
                                         status, trace, created_at, started_at)
            VALUES (CAST(:id AS uuid), CAST(:p AS uuid), gen_random_uuid(), 1, gen_random_uuid(),
                    'crm/patient.created', :status, CAST(:trace AS jsonb),
                    clock_timestamp() - CAST(:age AS interval), clock_timestamp() - CAST(:age AS interval))
            """
        ),
        {
            "id": run_id,
            "p": practice_id,
            "status": status,
            "age": age,
            "trace": json.dumps({"matched": True}),
        },
    )
    conn.execute(
        text(
            """
            INSERT INTO automation_action_logs (practice_id, run_id, action_index, action_type, args,
                                                status, created_at)
            VALUES (CAST(:p AS uuid), CAST(:id AS uuid), 0, 'create_note', CAST(:args AS jsonb),
                    'succeeded', clock_timestamp() - CAST(:age AS interval))
            """
        ),
        {"id": run_id, "p": practice_id, "age": age, "args": json.dumps({"body": "[redacted 5 chars]"})},
    )
    return run_id


def backtest(conn: Connection, practice_id: str, *, ended: str, status: str) -> str:
    """A backtest whose window ended ``ended`` ago, with a sample of one would-be action."""
    sample = [{"eventId": str(uuid.uuid4()), "actions": [{"type": "create_note", "args": {"body": "x"}}]}]
    return str(
        conn.execute(
            text(
                """
                INSERT INTO backtests (practice_id, definition, status, since, until, sample)
                VALUES (CAST(:p AS uuid), '{}'::jsonb, :status,
                        clock_timestamp() - CAST(:ended AS interval) - interval '7 days',
                        clock_timestamp() - CAST(:ended AS interval), CAST(:sample AS jsonb))
                RETURNING id
                """
            ),
            {"p": practice_id, "status": status, "ended": ended, "sample": json.dumps(sample)},
        ).scalar_one()
    )


def state(engine: Engine, practice_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        outbox = {
            str(r.id): (r.payload is not None, r.status, r.created_at is not None)
            for r in conn.execute(
                text(
                    "SELECT id, payload, status, created_at FROM outbox_events "
                    "WHERE practice_id = CAST(:p AS uuid)"
                ),
                {"p": practice_id},
            )
        }
        runs = {
            str(r.id): (r.trace is not None, r.status)
            for r in conn.execute(
                text("SELECT id, trace, status FROM automation_runs WHERE practice_id = CAST(:p AS uuid)"),
                {"p": practice_id},
            )
        }
        logs = {
            str(r.run_id): (r.args is not None, r.status)
            for r in conn.execute(
                text(
                    "SELECT run_id, args, status FROM automation_action_logs "
                    "WHERE practice_id = CAST(:p AS uuid)"
                ),
                {"p": practice_id},
            )
        }
        samples = {
            str(r.id): (r.sample != [], r.status)
            for r in conn.execute(
                text("SELECT id, sample, status FROM backtests WHERE practice_id = CAST(:p AS uuid)"),
                {"p": practice_id},
            )
        }
    return {"outbox": outbox, "runs": runs, "logs": logs, "samples": samples}


def test_prunes_old_rows_in_batches_and_keeps_what_is_still_needed(
    engine: Engine, practice: dict[str, str]
) -> None:
    pid = practice["id"]
    with engine.begin() as conn:
        old_events = [event(conn, pid, age=OLD) for _ in range(5)]
        old_pending = event(conn, pid, age=OLD, status="pending")  # not streamed yet: still needed
        old_rule_change = event(conn, pid, age=OLD)  # a rule change's row is never pruned
        conn.execute(
            text("UPDATE outbox_events SET aggregate_type = 'rule' WHERE id = CAST(:id AS uuid)"),
            {"id": old_rule_change},
        )
        recent_event = event(conn, pid, age=RECENT)
        old_runs = [run(conn, pid, age=OLD, status=s) for s in ("succeeded", "failed", "skipped")]
        old_waiting = run(conn, pid, age=OLD, status="waiting")  # resumes later: still needed
        old_running = run(conn, pid, age=OLD, status="running")
        recent_run = run(conn, pid, age=RECENT, status="succeeded")
        old_backtests = [backtest(conn, pid, ended=OLD, status=s) for s in ("done", "cancelled")]
        old_running_backtest = backtest(conn, pid, ended=OLD, status="running")  # writes it when it ends
        recent_backtest = backtest(conn, pid, ended=RECENT, status="done")
    lines: list[str] = []
    summary = run_retention(engine, days=30, batch_size=2, progress=lines.append)
    # Other tests' rows may be old too (none are backdated), so at least ours were pruned:
    assert summary["outboxPayloads"] >= 5 and summary["runTraces"] >= 3 and summary["actionLogArgs"] >= 3
    assert summary["backtestSamples"] >= 2
    assert any(line.startswith("outboxPayloads: pruned 2 (total 2)") for line in lines), lines
    after = state(engine, pid)
    for eid in old_events:
        assert after["outbox"][eid] == (False, "published", True)  # row, status and time stay
    # (the live stack may have streamed the pending row meanwhile: a row still pending keeps its payload)
    assert after["outbox"][old_pending][0] or after["outbox"][old_pending][1] == "published"
    assert after["outbox"][recent_event][0]
    assert after["outbox"][old_rule_change] == (True, "published", True)
    for rid in old_runs:
        assert after["runs"][rid][0] is False and after["logs"][rid][0] is False
    for rid in (old_waiting, old_running, recent_run):
        assert after["runs"][rid][0] is True and after["logs"][rid][0] is True
    assert {after["runs"][rid][1] for rid in old_runs} == {"succeeded", "failed", "skipped"}
    assert [after["samples"][b] for b in old_backtests] == [(False, "done"), (False, "cancelled")]
    assert after["samples"][old_running_backtest] == (True, "running")
    assert after["samples"][recent_backtest] == (True, "done")
    # A second run finds nothing more of ours to prune — but the pending row: the live stack of a
    # full `make test` may stream it in between (marked published), and an old published payload
    # is then rightly pruned. Whichever it is, a row still pending keeps its payload.
    run_retention(engine, days=30, batch_size=2)
    final = state(engine, pid)
    has_payload, status, _ = final["outbox"].pop(old_pending)
    assert has_payload or status == "published"
    after["outbox"].pop(old_pending)
    assert final == after


def test_a_second_run_while_one_holds_the_lock_does_nothing(engine: Engine) -> None:
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK})
        try:
            assert run_retention(engine, days=30) == {"skipped": "another retention run is in progress"}
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK})
            holder.commit()


def test_the_cli_prints_progress_and_a_summary(
    engine: Engine, practice: dict[str, str], settings: Settings
) -> None:
    with engine.begin() as conn:
        event(conn, practice["id"], age=OLD)
    done = subprocess.run(
        [sys.executable, "-m", "crmflow", "retention", "run", "--days", "30", "--batch-size", "500"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["days"] == 30 and summary["outboxPayloads"] >= 1
    assert "outboxPayloads: done" in done.stderr


def test_the_action_runner_prunes_on_its_interval(
    engine: Engine, practice: dict[str, str], settings: Settings
) -> None:
    """The schedule of deploy/local and compose: the runner's retention loop (here every second)."""
    with engine.begin() as conn:
        old = event(conn, practice["id"], age=OLD)
        old_run = run(conn, practice["id"], age=OLD, status="succeeded")
    runner = make_service("runner", settings, second=True, CRMFLOW_RETENTION_INTERVAL_SECONDS="1")
    runner.start()
    try:
        wait_for(
            lambda: state(engine, practice["id"])["runs"][old_run][0] is False,
            30,
            what="the runner's retention loop to prune the old run's trace",
        )
        after = state(engine, practice["id"])
        assert after["outbox"][old][0] is False and after["logs"][old_run][0] is False
    finally:
        runner.stop()
