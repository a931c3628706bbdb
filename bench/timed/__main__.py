"""``python -m bench.timed``: 100,000 waiting reminders across 1,000 practices, then re-plans and
cancels at 1,000/s each for 30 s, and the scheduler's tick with 0 and with all of them waiting
(``--quick``: 10,000 runs, 5 s). Needs only PostgreSQL: the slot's, started if it is not running
(and stopped again), in a database of its own made afresh each run. bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, text

from bench.e2e.stack import ROOT, STACK_SH, dsn, slot_env
from bench.timed import measure, workload
from bench.timed.measure import say
from crmflow.apikeys import create_practice
from crmflow.db.engine import make_engine
from crmflow.settings import Settings
from crmflow_runner.executor import Executor
from crmflow_runner.handlers import build_handlers

DATABASE = "crmflow_bench_timed"
TARGET_P99_MS = 500.0
TARGET_TICK_RATIO = 2.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.timed", description=__doc__)
    p.add_argument("--slot", type=int, default=6, help="test slot whose PostgreSQL is used (default 6)")
    p.add_argument("--quick", action="store_true", help="smoke run: 10,000 runs, 5 s of load")
    p.add_argument("--runs", type=int, help="waiting runs (default 100,000; --quick 10,000)")
    p.add_argument("--practices", type=int, default=1000)
    p.add_argument("--rate", type=float, default=1000.0, help="re-plans/s, and as many cancels/s")
    p.add_argument("--seconds", type=float, help="seconds of load (default 30; --quick 5)")
    p.add_argument("--ticks", type=int, default=300, help="scheduler ticks measured each time")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    args.runs = args.runs or (10_000 if args.quick else 100_000)
    args.seconds = args.seconds or (5.0 if args.quick else 30.0)
    return args


def fresh_database(settings: Settings) -> Settings:
    """An empty, migrated database of the benchmark's own on the slot's server."""
    with psycopg.connect(dsn(settings), autocommit=True, application_name="bench-timed") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    env = {**os.environ, "CRMFLOW_PG_DB": DATABASE}
    subprocess.run([sys.executable, "-m", "crmflow", "migrate"], check=True, cwd=ROOT, env=env)
    return settings.model_copy(update={"pg_db": DATABASE})


def practices(engine: Engine, count: int) -> list[str]:
    with engine.begin() as conn:
        return [create_practice(conn, f"Bench practice {i}") for i in range(count)]


def waiting_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(text("SELECT count(*) FROM scheduled_resumes WHERE status = 'pending'")).scalar_one()
        )


def outcome(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        by_status = text("SELECT status, count(*) FROM automation_runs GROUP BY status")
        runs: dict[str, int] = {str(k): int(v) for k, v in conn.execute(by_status).all()}
        moved = conn.execute(
            text("SELECT count(*) FROM automation_action_logs WHERE status = 'rescheduled'")
        ).scalar_one()
    return {**{f"runs_{k}": v for k, v in runs.items()}, "rescheduled_logs": int(moved)}


def run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    rng = random.Random(args.seed)
    engine = make_engine(settings, pool_size=1)
    executor = Executor(build_handlers(settings.patient_field_allowlist))
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}

    say(f"== {args.practices:,} practices, each with the demo's reminder rule ==")
    practice_ids = practices(engine, args.practices)
    with engine.connect() as conn:
        now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    index = workload.reminder_rules(practice_ids, now)

    say(f"== scheduler tick with {waiting_count(engine):,} waiting runs ({args.ticks} ticks) ==")
    results["tick_empty"] = {"waiting": waiting_count(engine), **measure.tick_cost(engine, args.ticks)}
    say(f"  {results['tick_empty']['wall_ms_per_tick']:.3f} ms/tick (median)")

    say(f"== {args.runs:,} appointments -> evaluator -> runner: waiting reminders ==")
    booked = workload.appointments(practice_ids, args.runs, now, rng)
    runs = [c for a in booked for c in workload.booked(a, index)]
    results["seed_seconds"] = measure.seed(engine, executor, runs, settings.runner_batch_size)
    results["waiting"] = waiting_count(engine)
    say(f"  {results['waiting']:,} waiting runs in {results['seed_seconds']:.1f} s")

    say(f"== scheduler tick with {results['waiting']:,} waiting runs ({args.ticks} ticks) ==")
    results["tick_full"] = {"waiting": results["waiting"], **measure.tick_cost(engine, args.ticks)}
    say(f"  {results['tick_full']['wall_ms_per_tick']:.3f} ms/tick (median)")
    results["explain_control"] = measure.explain_control(engine)

    per_kind = int(args.rate * args.seconds)
    say(f"== {per_kind:,} re-plans and {per_kind:,} cancels at {args.rate:,.0f}/s each ==")
    made = time.monotonic()
    stream = list(workload.control_stream(booked, per_kind, index, rng))
    say(f"  {len(stream):,} commands from the evaluator in {time.monotonic() - made:.1f} s")
    results["load"] = measure.steady_load(engine, executor, stream, 2 * args.rate, settings.runner_batch_size)
    results["load"]["commands_by_kind"] = {
        kind: sum(1 for c in stream if c["kind"] == kind) for kind in ("replan", "cancel")
    }
    results["outcome"] = outcome(engine)
    engine.dispose()
    return results


def summary(results: dict[str, Any]) -> dict[str, Any]:
    p99 = results["load"]["latency_ms"]["p99"]
    empty, full = results["tick_empty"], results["tick_full"]
    ratio = full["wall_ms_per_tick"] / max(empty["wall_ms_per_tick"], 1e-9)
    return {
        "p99_ms": p99,
        "p99_target_met": p99 < TARGET_P99_MS,
        "tick_ratio_full_vs_empty": ratio,
        "tick_target_met": ratio <= TARGET_TICK_RATIO,
    }


def print_report(results: dict[str, Any]) -> None:
    load, s = results["load"], results["summary"]
    lat = load["latency_ms"]
    print(f"waiting runs: {results['waiting']:,} (seeded in {results['seed_seconds']:.1f} s)")
    print(
        f"load: {load['commands']:,} commands offered at {load['offered_rate']:,.0f}/s, executed at "
        f"{load['achieved_rate']:,.0f}/s in {load['batches']:,} batches"
    )
    print(
        f"produced -> committed: p50 {lat['p50']:.1f} ms  p99 {lat['p99']:.1f} ms  max {lat['max']:.1f} ms"
        f"  (target p99 < {TARGET_P99_MS:.0f} ms: {'met' if s['p99_target_met'] else 'NOT met'})"
    )
    for name in ("tick_empty", "tick_full"):
        t = results[name]
        print(
            f"scheduler tick, {t['waiting']:,} waiting: {t['wall_ms_per_tick']:.3f} ms wall (median; "
            f"mean {t['wall_ms_mean']:.3f}, p99 {t['wall_ms_p99']:.3f}), "
            f"runner CPU {t['runner_cpu_ms_per_tick']:.3f} ms, "
            f"PostgreSQL CPU {t['pg_backend_cpu_ms_per_tick']:.3f} ms"
        )
    print(
        f"tick cost (median wall) with vs without waiting runs: {s['tick_ratio_full_vs_empty']:.2f}x "
        f"(target <= {TARGET_TICK_RATIO:.0f}x: {'met' if s['tick_target_met'] else 'NOT met'})"
    )
    print(f"outcome: {results['outcome']}")
    print("scheduler query plan, all waiting:\n  " + "\n  ".join(results["tick_full"]["explain"]))
    for kind, plan in results["explain_control"].items():
        print(f"{kind} lookup plan:\n  " + "\n  ".join(plan))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.update(slot_env(args.slot))
    pid_file = Path(os.environ["CRMFLOW_RUN_DIR"]) / "pids" / "pg.pid"
    started_pg = not pid_file.exists()
    if started_pg:
        subprocess.run([str(STACK_SH), "start", "pg"], check=True, cwd=ROOT)
    try:
        settings = fresh_database(Settings())
        started_at = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        results = {"started_at": started_at, "quick": args.quick, **run(args, settings)}
    finally:
        if started_pg:
            subprocess.run([str(STACK_SH), "stop", "pg"], check=False, cwd=ROOT)
    results["summary"] = summary(results)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"timed-{started_at}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_report(results)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
