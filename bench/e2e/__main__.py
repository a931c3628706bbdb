"""``python -m bench.e2e``: the end-to-end benchmark (``make bench`` runs it on its own stack).

Phases, each step in a fresh tenant, all against the same evaluator and runner:
  latency     CDC at fixed offered rates (default 50/s and 500/s, 60 s each)
  fairness    CDC, two practices at once: a busy one (500/s) beside a quiet one (20/s), per-practice p99
  polling     the seed's polling publisher at 1 s and 5 s intervals, same rates, same consumer
  throughput  CDC, ramping up the offered rate until p99 >= 1 s, then bisecting
Prints a table, writes bench/results/e2e-<UTC timestamp>.json and .png. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.e2e.stack import ROOT, Stack, dsn, slot_env

PHASES = ("idle", "latency", "fairness", "polling", "throughput", "capacity")
RAMP = [250.0, 800.0, 1000.0, 2000.0, 3000.0, 4000.0, 6000.0]  # 800: issue 17's sustained target
QUICK_RAMP = [250.0, 1000.0, 2000.0]
PG_SETTINGS = (
    "synchronous_commit",
    "fsync",
    "wal_sync_method",
    "commit_delay",
    "commit_siblings",
    "wal_writer_delay",
    "wal_writer_flush_after",
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "max_connections",
)


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _pairs(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {v!r}")
        out[key.strip()] = value.strip()
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.e2e",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 1)[1] if __doc__ else None,
    )
    add = p.add_argument
    add("--quick", action="store_true", help="15 s steps and a short ramp: a smoke run, not a measurement")
    add("--duration", type=float, help="seconds of offered load per step (default 60; --quick 15)")
    add("--rates", type=_floats, default=[50.0, 500.0], help="latency rates, events/s (50,500)")
    add("--fairness-rates", type=_floats, default=[500.0, 20.0],
        help="fairness phase: the busy practice's rate, then the quiet one's, events/s (500,20)")  # fmt: skip
    add("--poll-intervals", type=_floats, default=[1.0, 5.0], help="poller intervals, s (1,5)")
    add("--poll-rates", type=_floats, help="rates of the polling steps (default: --rates)")
    add("--ramp", type=_floats, help="throughput ramp, events/s (250,800,1000,2000,3000,4000,6000)")
    add("--bisect", type=int, help="bisection steps after the ramp (default 3; --quick 1)")
    add("--backlog", type=int, help="events of the capacity phase's backlog (default 20000; --quick 5000)")
    add("--idle-seconds", type=float, help="seconds of the idle phase (default 60; --quick 20)")
    add("--only", default=",".join(PHASES), help=f"phases to run, of {','.join(PHASES)}")
    add("--slot", type=int, default=int(os.environ.get("BENCH_SLOT", "6")),
        help="test slot of the stack (deploy/local/test-env.sh; default $BENCH_SLOT or 6)")  # fmt: skip
    add("--fresh", action="store_true", help="delete the slot's data first (nothing of the slot may run)")
    add("--keep-stack", action="store_true", help="leave running what this run started")
    add("--restart-services", action="store_true",
        help="restart a running evaluator and runner, so they take this environment's knobs")  # fmt: skip
    add("--connector", action="append", default=[], metavar="KEY=VALUE",
        help="override a Debezium connector setting for this run (repeatable)")  # fmt: skip
    add("--pg-set", action="append", default=[], metavar="KEY=VALUE",
        help="ALTER DATABASE ... SET during this run, e.g. synchronous_commit=off (repeatable)")  # fmt: skip
    add(
        "--profile",
        action="store_true",
        help="py-spy the evaluator and the runner in throughput and capacity steps",
    )
    add("--label", default="", help="a note stored with the results")
    add("--out", type=Path, default=ROOT / "bench" / "results", help="results folder (bench/results)")
    args = p.parse_args(argv)
    args.duration = args.duration or (15.0 if args.quick else 60.0)
    args.idle_seconds = args.idle_seconds or (20.0 if args.quick else 60.0)
    args.poll_rates = args.poll_rates or args.rates
    args.ramp = args.ramp or (QUICK_RAMP if args.quick else RAMP)
    args.backlog = args.backlog if args.backlog is not None else (5000 if args.quick else 20000)
    args.bisect = args.bisect if args.bisect is not None else (1 if args.quick else 3)
    args.only = [x.strip() for x in args.only.split(",") if x.strip()]
    if len(args.fairness_rates) != 2 or min(args.fairness_rates) <= 0:
        p.error("--fairness-rates: two positive rates, the busy practice's then the quiet one's")
    unknown = set(args.only) - set(PHASES)
    if unknown:
        p.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    try:
        args.connector = _pairs(args.connector)
        args.pg_set = _pairs(args.pg_set)
    except argparse.ArgumentTypeError as exc:
        p.error(str(exc))
    return args


def _git() -> dict[str, Any]:
    def run(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": run("rev-parse", "HEAD"), "dirty_files": len(run("status", "--porcelain").splitlines())}


def _pg_settings(conn: psycopg.Connection[Any]) -> dict[str, str]:
    rows = conn.execute(
        "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (list(PG_SETTINGS),)
    )
    return {name: f"{setting}{unit or ''}" for name, setting, unit in rows}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.update(slot_env(args.slot))
    # settings, the stack and the services read the slot's environment from here on
    from bench.e2e.report import print_tables, targets, write_results
    from bench.e2e.search import Bench
    from crmflow.settings import Settings

    settings = Settings()
    stack = Stack(settings, connector_overrides=args.connector, restart_services=args.restart_services)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    results: dict[str, Any] = {
        "started_at": stamp,
        "label": args.label,
        "quick": args.quick,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "git": _git(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "loadavg_at_start": os.getloadavg(),
        },
        "settings": settings.model_dump(exclude={"pg_password", "api_key_secret", "internal_api_key"}),
        "steps": [],
    }

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    failure: BaseException | None = None
    try:
        if args.fresh:
            stack.reset()
        stack.up(pg_set=args.pg_set)
        with psycopg.connect(dsn(settings), autocommit=True) as conn:
            results["postgresql"] = _pg_settings(conn)
        results["stack"] = stack.describe()
        Bench(args, stack, settings, results).run()
    except (Exception, KeyboardInterrupt) as exc:
        failure = exc
        results["error"] = f"{type(exc).__name__}: {exc}"
        print(f"\nbench: {results['error']}", file=sys.stderr)
    finally:
        try:
            stack.restore(pg_set=args.pg_set)
        finally:
            if not args.keep_stack:
                stack.down()
    results["finished_at"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if results["steps"]:
        results["targets"] = targets(results)
        json_path, png_path = write_results(results, args.out)
        print_tables(results)
        print(f"\nresults: {json_path}\nplot:    {png_path}")
    if failure is not None:
        return 130 if isinstance(failure, KeyboardInterrupt) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
