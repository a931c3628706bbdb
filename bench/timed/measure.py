"""The three measurements, against real PostgreSQL, through the runner's own code.

Commands go to ``Executor.execute`` in the runner's batches and transactions, in process (the
consumer's loop without Kafka): the figure is the cost of finding and changing waiting runs, not
of the broker's hops, which the e2e benchmark measures. A command counts as produced at its slot
of the steady rate (open loop: a batch that falls behind delays the ones after it, as lag would).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, cast

from confluent_kafka import Producer
from sqlalchemy import ClauseElement, Connection, Engine, text

from bench.e2e.procstat import read_stat
from crmflow.commands import ActionCommandDict
from crmflow_runner.executor import Executor
from crmflow_runner.scheduler import DUE_BATCH, Scheduler
from crmflow_runner.statements import BOUND_RESUMES, CANCELLABLE_RESUMES


def say(text_: str) -> None:
    print(text_, file=sys.stderr, flush=True)


def seed(engine: Engine, executor: Executor, runs: Sequence[ActionCommandDict], batch: int) -> float:
    """Execute the RunCommands (each waits at its delay_until); returns the seconds it took."""
    started = time.monotonic()
    for start in range(0, len(runs), batch):
        with engine.begin() as conn:
            executor.execute(conn, runs[start : start + batch])
        if (start // batch) % 20 == 0:
            say(f"  seeded {start + batch:,} / {len(runs):,} runs")
    with engine.begin() as conn:
        conn.execute(text("ANALYZE scheduled_resumes; ANALYZE automation_runs"))
    return time.monotonic() - started


def steady_load(
    engine: Engine, executor: Executor, stream: Sequence[ActionCommandDict], rate: float, batch: int
) -> dict[str, Any]:
    """Offer ``stream`` at ``rate`` commands/s; each polled batch (at most ``batch``, as the
    consumer's) executes and commits in one transaction. Latency: produced -> committed."""
    latencies: list[float] = []
    batches = 0
    t0 = time.perf_counter()
    next_report = t0 + 1
    done = 0
    while done < len(stream):
        now = time.perf_counter()
        produced = min(len(stream), int((now - t0) * rate) + 1)
        if produced <= done:
            time.sleep((done / rate) - (now - t0))
            continue
        end = min(produced, done + batch)
        with engine.begin() as conn:
            executor.execute(conn, stream[done:end])
        committed = time.perf_counter()
        latencies += [committed - (t0 + i / rate) for i in range(done, end)]
        done, batches = end, batches + 1
        if committed >= next_report:
            behind = produced - done
            say(f"  {committed - t0:5.1f} s: {done:,} commands committed, {behind:,} waiting to be executed")
            next_report += 1
    elapsed = time.perf_counter() - t0
    ordered = sorted(latencies)
    return {
        "commands": len(stream),
        "offered_rate": rate,
        "achieved_rate": len(stream) / elapsed,
        "seconds": elapsed,
        "batches": batches,
        "latency_ms": {
            "p50": 1000 * ordered[len(ordered) // 2],
            "p99": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            "max": 1000 * ordered[-1],
            "mean": 1000 * statistics.fmean(ordered),
        },
    }


def _backend_cpu(conn: Connection) -> float:
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    stat = read_stat(int(pid))
    return 0.0 if stat is None else stat.cpu


def tick_cost(engine: Engine, ticks: int) -> dict[str, Any]:
    """The scheduler's tick with nothing due, ``ticks`` times on one pooled connection: wall time
    per tick (median: on a shared machine a tick preempted midway is noise, not cost), the
    runner's CPU and the PostgreSQL backend's CPU per tick (/proc, 10 ms resolution: summed over
    all ticks). Nothing is due, so the producer is never used."""
    scheduler = Scheduler(engine, cast(Producer, None), threading.Event(), topic="unused", interval=0)
    scheduler.tick()  # connect, prepare
    with engine.connect() as conn:
        backend_before = _backend_cpu(conn)
    walls: list[float] = []
    claimed = 0
    cpu = time.process_time()
    for _ in range(ticks):
        started = time.perf_counter()
        claimed += scheduler.tick()
        walls.append(time.perf_counter() - started)
    cpu = time.process_time() - cpu
    with engine.connect() as conn:
        backend = _backend_cpu(conn) - backend_before
    if claimed:
        raise RuntimeError(f"{claimed} resumes came due during the tick measurement")
    walls.sort()
    return {
        "ticks": ticks,
        "wall_ms_per_tick": 1000 * statistics.median(walls),
        "wall_ms_mean": 1000 * statistics.fmean(walls),
        "wall_ms_p99": 1000 * walls[min(len(walls) - 1, int(len(walls) * 0.99))],
        "runner_cpu_ms_per_tick": 1000 * cpu / ticks,
        "pg_backend_cpu_ms_per_tick": 1000 * backend / ticks,
        "explain": explain_due(engine),
    }


def _explain(conn: Connection, statement: ClauseElement, params: dict[str, Any] | None = None) -> list[str]:
    compiled = statement.compile(dialect=conn.dialect)
    sql = f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {compiled}"
    return [str(r) for r in conn.exec_driver_sql(sql, {**compiled.params, **(params or {})}).scalars()]


def explain_due(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        plan = _explain(conn, DUE_BATCH)
        conn.rollback()
    return plan


def explain_control(engine: Engine, keys: int = 50) -> dict[str, list[str]]:
    """The plans of the re-plan's and the cancel's set-wise lookups for ``keys`` waiting runs
    (a batch's worth of control commands; rolled back)."""
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT practice_id, rule_id, bound_entity_id, binding, cancel_keys FROM scheduled_resumes "
                "WHERE status = 'pending' AND bound_entity_id IS NOT NULL AND cancel_keys IS NOT NULL "
                "LIMIT :keys"
            ),
            {"keys": keys},
        ).all()
        replan = {
            "practice_id": [str(r.practice_id) for r in found],
            "entity_id": [r.bound_entity_id for r in found],
            "rule_id": [str(r.rule_id) for r in found],
            "entity_type": [r.binding["entityType"] for r in found],
            "field": [r.binding["field"] for r in found],
        }
        cancel = {
            "practice_id": [str(r.practice_id) for r in found],
            "rule_id": [str(r.rule_id) for r in found],
            "cancel_key": [r.cancel_keys[0] for r in found],
        }
        plans = {
            "replan": _explain(conn, BOUND_RESUMES, replan),
            "cancel": _explain(conn, CANCELLABLE_RESUMES, cancel),
        }
        conn.rollback()
    return plans
