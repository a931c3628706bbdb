"""One backtest run in this process, exactly as the rules-api's worker runs it (``Backtests.run``
over a row ``store.create`` made), timed: wall seconds, this process's CPU, events per second."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from bench.backtest.seed import TRIGGER
from bench.e2e import procstat
from crmflow.settings import Settings
from crmflow_api.backtests import store
from crmflow_api.backtests.tally import Tally, compile_definition
from crmflow_api.backtests.worker import Backtests, Job

APP_NAME = "bench-backtest-scan"
"""The backtest's connections' application_name (PGAPPNAME, set by the caller before connecting)."""
RULE: dict[str, Any] = {
    "triggerEvent": TRIGGER,
    "conditionsJson": {
        "operator": "and",
        "conditions": [
            {"field": "appointment.status", "operator": "in", "value": ["scheduled", "confirmed"]},
            {"field": "appointment.visitType", "operator": "in", "value": ["Consultation", "Checkup"]},
        ],
    },
    "actionsJson": [
        {
            "type": "create_note",
            "args": {
                "patientId": "{patientId}",
                "body": "{appointment.visitType} booked for {patient.firstName}",
            },
        },
        {
            "type": "create_task",
            "args": {"title": "Prepare {appointment.visitType}", "patientId": "{patientId}"},
        },
    ],
}


def run_once(
    engine: Engine, settings: Settings, practice_id: str, since: datetime, until: datetime
) -> dict[str, Any]:
    rule = compile_definition(practice_id, RULE)
    zone = ZoneInfo("UTC")
    empty = Tally(rule, since, until, zone, settings.max_chain_depth)
    backtest_id = store.create(
        engine,
        practice_id,
        rule_id=None,
        rule_version=None,
        definition=RULE,
        since=since,
        until=until,
        by_day=empty.by_day(),
        stale_seconds=settings.backtest_stale_seconds,
    )
    workers = Backtests(engine, settings)
    try:
        pg0 = backend_cpu(engine)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        tally = workers.run(Job(backtest_id, practice_id, rule, since, until, zone))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        pg_cpu = backend_cpu(engine) - pg0
    finally:
        workers.close()
    assert tally is not None, "the backtest did not finish"
    return {
        "backtest_id": backtest_id,
        "events_scanned": tally.scanned,
        "matched": tally.matched,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "pg_backend_cpu_seconds": round(pg_cpu, 3),
        "events_per_second": round(tally.scanned / wall, 1) if wall else None,
        "events_per_cpu_second": round(tally.scanned / (cpu + pg_cpu), 1) if cpu + pg_cpu else None,
    }


def backend_cpu(engine: Engine) -> float:
    """CPU seconds of the PostgreSQL backends of this process's connections (application_name
    APP_NAME, set through PGAPPNAME), from /proc: the database's share of a backtest's cost."""
    with engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :app"), {"app": APP_NAME}
        ).scalars()
        stats = [procstat.read_stat(pid) for pid in pids]
    return sum(s.cpu for s in stats if s is not None)
