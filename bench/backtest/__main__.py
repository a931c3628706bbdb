"""``python -m bench.backtest``: the backtest's scan rate on 100,000 stored events of one practice
among 1,000,000 of 1,000 practices (target >= 20,000 events/s), with and without the outbox
index of migration 0012; then the live pipeline's p99 at 50 events/s with and without
backtests of that practice running back to back (target: at most 1.5x). ``--quick``: 10,000 of
100,000 events, 20 s steps. bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import text

from bench.backtest import seed
from bench.backtest.scan import APP_NAME, run_once
from bench.e2e.stack import ROOT, STACK_SH, Stack, dsn, slot_env
from crmflow.db.engine import make_engine
from crmflow.settings import Settings

DATABASE = "crmflow_bench_backtest"
TARGET_RATE = 20_000.0
TARGET_P99_RATIO = 1.5
INDEX = "ix_outbox_events_practice_name"
PAGE_QUERY = """
EXPLAIN (ANALYZE, BUFFERS) SELECT id::text AS event_id, created_at, payload FROM outbox_events
WHERE practice_id = %s AND event_name = %s AND created_at >= %s AND created_at < %s
ORDER BY created_at, id LIMIT %s
"""


def say(text_: str) -> None:
    print(text_, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.backtest", description=__doc__)
    p.add_argument("--slot", type=int, default=6, help="test slot whose stack is used (default 6)")
    p.add_argument("--quick", action="store_true", help="10,000 of 100,000 events, 20 s live steps")
    p.add_argument("--phase", choices=("rate", "live", "all"), default="all")
    p.add_argument("--target-events", type=int, help="trigger events of the backtested practice (100,000)")
    p.add_argument("--events", type=int, help="events of every practice (1,000,000)")
    p.add_argument("--practices", type=int, help="practices (1,000; --quick 100)")
    p.add_argument("--repeat", type=int, default=3, help="timed backtests of the rate phase")
    p.add_argument("--rate", type=float, default=50.0, help="live events/s of the live phase")
    p.add_argument("--seconds", type=float, help="seconds of each live step (60; --quick 20)")
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    args.target_events = args.target_events or (10_000 if args.quick else 100_000)
    args.events = args.events or (100_000 if args.quick else 1_000_000)
    args.practices = args.practices or (100 if args.quick else 1000)
    args.seconds = args.seconds or (20.0 if args.quick else 60.0)
    return args


def fresh_database(settings: Settings) -> Settings:
    with psycopg.connect(dsn(settings), autocommit=True, application_name="bench-backtest") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    env = {**os.environ, "CRMFLOW_PG_DB": DATABASE}
    subprocess.run([sys.executable, "-m", "crmflow", "migrate"], check=True, cwd=ROOT, env=env)
    return settings.model_copy(update={"pg_db": DATABASE})


def seed_events(
    settings: Settings, args: argparse.Namespace, practices: int, total: int
) -> tuple[str, datetime]:
    """Seed; returns the target practice and the seeding time (the window's end)."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    with psycopg.connect(dsn(settings), autocommit=True, application_name="bench-backtest") as conn:
        ids = seed.practices(conn, practices)
        written = seed.events(
            conn, ids, target=args.target_events, total=total, now=now, days=29, seed=args.seed
        )
    say(f"  {written:,} events of {practices:,} practices seeded in {time.perf_counter() - started:.1f} s")
    return ids[0], now


def plan(settings: Settings, practice_id: str, since: datetime, until: datetime) -> list[str]:
    with psycopg.connect(dsn(settings), autocommit=True) as conn:
        rows = conn.execute(
            PAGE_QUERY, (practice_id, seed.TRIGGER, since, until, settings.backtest_page_size)
        ).fetchall()
    return [r[0] for r in rows]


def rate_phase(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    say(
        f"== rate: {args.target_events:,} events of one practice among {args.events:,}"
        f" of {args.practices:,} =="
    )
    settings = fresh_database(settings)
    practice_id, now = seed_events(settings, args, args.practices, args.events)
    since, until = now - timedelta(days=30), now + timedelta(seconds=1)
    os.environ["PGAPPNAME"] = APP_NAME  # libpq: the backends whose CPU run_once reads
    engine = make_engine(settings, pool_size=2)
    runs = []
    for i in range(args.repeat):
        runs.append(run_once(engine, settings, practice_id, since, until))
        r = runs[-1]
        say(
            f"  run {i + 1}: {r['events_scanned']:,} events in {r['wall_seconds']:.2f} s"
            f" = {r['events_per_second']:,.0f} events/s; CPU {r['cpu_seconds']:.2f} s here +"
            f" {r['pg_backend_cpu_seconds']:.2f} s PostgreSQL = {r['events_per_cpu_second']:,.0f}"
            " events per CPU-second"
        )
    with_index_plan = plan(settings, practice_id, since, until)
    with engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {INDEX}"))
    try:
        without = run_once(engine, settings, practice_id, since, until)
        without_plan = plan(settings, practice_id, since, until)
        say(f"  without {INDEX}: {without['events_per_second']:,.0f} events/s")
    finally:
        with engine.begin() as conn:
            conn.execute(
                text(f"CREATE INDEX {INDEX} ON outbox_events (practice_id, event_name, created_at, id)")
            )
    engine.dispose()
    rate = statistics.median(r["events_per_second"] for r in runs)
    per_cpu = statistics.median(r["events_per_cpu_second"] for r in runs)
    return {
        "events_per_cpu_second_median": per_cpu,
        "events": args.events,
        "practices": args.practices,
        "target_events": args.target_events,
        "page_size": settings.backtest_page_size,
        "runs": runs,
        "events_per_second_median": rate,
        "target_met": rate >= TARGET_RATE,
        "without_index": without,
        "page_plan": with_index_plan,
        "page_plan_without_index": without_plan,
    }


def live_phase(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """The e2e harness (bench/e2e): the slot's stack and services, a step at ``args.rate`` alone,
    then one with backtests running back to back in a process of their own."""
    from bench.e2e.monitor import Monitor
    from bench.e2e.steps import Display, StepRunner, StepSpec

    say(f"== live: p99 at {args.rate:.0f} events/s, without and with a backtest running ==")
    stack = Stack(settings, connector_overrides={}, restart_services=False)
    out: dict[str, Any] = {}
    try:
        stack.up(pg_set={})
        stack.set_publication(False)  # the seeded history is not streamed (stack.py explains)
        try:
            practice_id, now = seed_events(settings, args, 1, args.target_events + args.target_events // 2)
        finally:
            stack.set_publication(True)
        since, until = now - timedelta(days=30), now + timedelta(seconds=1)
        engine = make_engine(settings, pool_size=2)
        pids = {n: stack.pid(n) for n in ("kafka", "connect", "evaluator", "runner")}
        components = {n: p for n, p in pids.items() if p is not None}
        pg_pid = stack.pid("pg")
        assert pg_pid is not None
        with Monitor(components, pg_pid=pg_pid, dsn=dsn(settings)) as monitor:
            runner = StepRunner(stack=stack, engine=engine, monitor=monitor, display=Display(sys.stdout))
            try:
                runner.run(StepSpec("warmup", "warmup", "cdc", args.rate, 5.0))
                out["alone"] = runner.run(StepSpec("live-alone", "latency", "cdc", args.rate, args.seconds))
                loop = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.backtest.loop",
                        "--practice",
                        practice_id,
                        "--since",
                        since.isoformat(),
                        "--until",
                        until.isoformat(),
                        "--seconds",
                        str(args.seconds),
                    ],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                try:
                    out["with_backtest"] = runner.run(
                        StepSpec("live-with-backtest", "latency", "cdc", args.rate, args.seconds)
                    )
                finally:
                    stdout, _ = loop.communicate(timeout=600)
                out["backtests_during_step"] = (
                    json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
                )
            finally:
                runner.close()
        engine.dispose()
    finally:
        stack.down()
    alone, busy = out["alone"]["latency"]["p99"], out["with_backtest"]["latency"]["p99"]
    out["p99_ratio"] = round(busy / alone, 2) if alone else None
    out["target_met"] = out["p99_ratio"] is not None and out["p99_ratio"] <= TARGET_P99_RATIO
    return out


def print_report(results: dict[str, Any]) -> None:
    say("\n== backtest benchmark" + (" (--quick: preliminary)" if results["quick"] else "") + " ==")
    rate = results.get("rate")
    if rate:
        say(
            f"scan rate: {rate['events_per_second_median']:,.0f} events/s scanned and evaluated (median"
            f" of {len(rate['runs'])}; {rate['target_events']:,} events of one practice among"
            f" {rate['events']:,} of {rate['practices']:,}; target >= {TARGET_RATE:,.0f}:"
            f" {'met' if rate['target_met'] else 'NOT met'})"
        )
        say(
            f"  per CPU-second (backtest process + its PostgreSQL backend):"
            f" {rate['events_per_cpu_second_median']:,.0f} events; load average at start"
            f" {results['loadavg_at_start'][0]:.1f} on {os.cpu_count()} cores"
        )
        w = rate["without_index"]
        say(
            f"  without {INDEX}: {w['events_per_second']:,.0f} events/s,"
            f" {w['events_per_cpu_second']:,.0f} per CPU-second"
        )
        say("  page plan:\n    " + "\n    ".join(rate["page_plan"]))
        say("  page plan without the index:\n    " + "\n    ".join(rate["page_plan_without_index"]))
    live = results.get("live")
    if live:
        a, b = live["alone"]["latency"], live["with_backtest"]["latency"]
        say(
            f"live p99 at {results['args']['rate']}/s: alone {a['p99'] * 1000:.0f} ms, with backtests "
            f"{b['p99'] * 1000:.0f} ms (x{live['p99_ratio']}; target <= {TARGET_P99_RATIO}: "
            f"{'met' if live['target_met'] else 'NOT met'}); backtests during the step: "
            f"{live['backtests_during_step']}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.update(slot_env(args.slot))
    settings = Settings()
    started_at = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {
        "started_at": started_at,
        "quick": args.quick,
        "args": {k: str(v) for k, v in vars(args).items()},
        "loadavg_at_start": os.getloadavg(),
    }
    pid_file = Path(os.environ["CRMFLOW_RUN_DIR"]) / "pids" / "pg.pid"
    # Live first: the rate phase's seeding writes ~1 GB of WAL in the same cluster, which
    # Debezium's replication slot must read through before the live phase's rule could arrive.
    if args.phase in ("live", "all"):
        results["live"] = live_phase(args, settings)
    if args.phase in ("rate", "all"):
        started_pg = not pid_file.exists()
        if started_pg:
            subprocess.run([str(STACK_SH), "start", "pg"], check=True, cwd=ROOT)
        try:
            results["rate"] = rate_phase(args, settings)
        finally:
            if started_pg:
                subprocess.run([str(STACK_SH), "stop", "pg"], check=False, cwd=ROOT)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"backtest-{started_at}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_report(results)
    say(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
