"""The run's plan: warm-up, latency steps, the fairness step, polling steps, then the throughput search.

Throughput: a rate is *sustained* when a step at that offered rate, for the full duration,
wrote (nearly) every scheduled event, every event got its effect, and p99 stayed under 1 s.
The ramp goes up until a step fails, then bisection narrows the gap between the highest pass
and the lowest failure. CDC latency steps count as throughput points too (a failed one ends the
ramp below its rate).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sqlalchemy import Engine

from bench.e2e.backlog import run_backlog
from bench.e2e.idle import measure_idle
from bench.e2e.monitor import Monitor
from bench.e2e.profile import Profiler
from bench.e2e.stack import Stack, dsn
from bench.e2e.steps import Body, Display, Load, StepRunner, StepSpec
from crmflow.db.engine import make_engine
from crmflow.settings import Settings

# Warm-up steps (rate/s, seconds), not reported: the last one at a high rate, so the fresh JVMs'
# JIT has compiled Kafka's and Connect's hot paths before the first measured step (bench/README.md:
# a cold 500/s step spent ~10 CPU-s in C2 compiler threads and had 3x the p99 of a warm one).
WARMUP = ((100.0, 10.0), (500.0, 15.0))
# The backlog is written as fast as the generators go (the schedule is only a ceiling).
BACKLOG_WRITE_RATE = 1500.0


class Bench:
    def __init__(
        self, args: argparse.Namespace, stack: Stack, settings: Settings, results: dict[str, Any]
    ) -> None:
        self.args = args
        self.stack = stack
        self.settings = settings
        self.results = results
        self.engine: Engine = make_engine(settings, pool_size=2)

    def run(self) -> None:
        pids = {name: self.stack.pid(name) for name in ("kafka", "connect", "evaluator", "runner")}
        missing = [n for n, pid in pids.items() if pid is None]
        pg_pid = self.stack.pid("pg")
        if missing or pg_pid is None:
            raise RuntimeError(f"not running: {', '.join(missing or ['postgresql'])}")
        components = {n: pid for n, pid in pids.items() if pid is not None}
        if (second := self.stack.pid("evaluator2")) is not None:  # started by hand (bench/README.md)
            components["evaluator2"] = second
        display = Display(sys.stdout)
        with Monitor(components, pg_pid=pg_pid, dsn=dsn(self.settings)) as monitor:
            self.runner = StepRunner(stack=self.stack, engine=self.engine, monitor=monitor, display=display)
            self.profiler = (
                Profiler(components, self.args.out, self.results["started_at"]) if self.args.profile else None
            )
            try:
                self._plan()
            finally:
                self.runner.close()
                self.engine.dispose()

    def _step(self, spec: StepSpec, body: Body | None = None) -> dict[str, Any]:
        if self.profiler is not None and spec.phase == "throughput":
            with self.profiler.recording(spec.name) as files:
                result = self.runner.run(spec, body)
            result["profiles"] = files
        else:
            result = self.runner.run(spec, body)
        self.results["steps"].append(result)
        return result

    def _plan(self) -> None:
        a = self.args
        print(f"bench: slot {a.slot}, steps of {a.duration:g} s; machine load {_load()}", flush=True)
        for rate, seconds in WARMUP:
            self._step(StepSpec(f"warm-up {rate:g}/s", "warmup", "cdc", rate, min(seconds, a.duration)))
        if "idle" in a.only:
            print(f"bench: idle, {a.idle_seconds:g} s with no traffic", flush=True)
            self.results["idle"] = idle = measure_idle(self.runner.monitor, self.stack, a.idle_seconds)
            print(
                f"bench: idle: Python services {idle['python_services_core_percent']:.2f}% of a core, "
                f"Kafka + Connect {idle['kafka_connect_core_percent']:.2f}% ({idle['core_percent']})",
                flush=True,
            )
        if "latency" in a.only:
            for rate in a.rates:
                self._step(StepSpec(f"cdc {rate:g}/s", "latency", "cdc", rate, a.duration))
        if "fairness" in a.only:
            self._fairness()
        if "polling" in a.only:
            for interval in a.poll_intervals:
                for rate in a.poll_rates:
                    self._step(
                        StepSpec(
                            f"poll {interval:g}s {rate:g}/s",
                            "polling",
                            f"poll-{interval:g}s",
                            rate,
                            a.duration,
                            poll_interval=interval,
                        )
                    )
        if "throughput" in a.only:
            self._throughput()
        if "capacity" in a.only and a.backlog:
            spec = StepSpec(
                f"backlog {a.backlog}", "capacity", "cdc", BACKLOG_WRITE_RATE, a.backlog / BACKLOG_WRITE_RATE
            )
            profiler = self.profiler
            result = self._step(
                spec,
                lambda s, practice_id, _: run_backlog(
                    self.runner, s, practice_id, profile=profiler.recording if profiler else None
                ),
            )
            self.results["capacity"] = {
                "drain_rate": result.get("drain_rate"),
                "stages": result.get("drain_stages"),
                "events": result.get("written"),
            }

    def _fairness(self) -> None:
        """A busy practice and a quiet one at once (issue 17): the quiet one's percentiles show
        what another practice's load does to it."""
        busy, quiet = self.args.fairness_rates
        spec = StepSpec.concurrent(
            f"fair {busy:g}+{quiet:g}/s",
            "fairness",
            (Load("busy", busy), Load("quiet", quiet)),
            self.args.duration,
        )
        result = self._step(spec)
        self.results["fairness"] = {
            "step": spec.name,
            "design": spec.design,
            "duration": spec.duration,
            "practices": {
                part["label"]: {k: v for k, v in part.items() if k != "label"} for part in result["loads"]
            },
            "aborted": result["aborted"],
            "resources": result["resources"],
        }

    def _throughput(self) -> None:
        a = self.args
        cdc = [s for s in self.results["steps"] if s["design"] == "cdc" and s["phase"] == "latency"]
        best = max((s["offered_rate"] for s in cdc if s["passed"]), default=0.0)
        fail = min(
            (s["offered_rate"] for s in cdc if not s["passed"] and s["offered_rate"] > best), default=None
        )
        for rate in a.ramp:
            if rate <= best:
                continue
            if fail is not None and rate >= fail:
                break
            if self._step(
                StepSpec(f"cdc {rate:g}/s", "throughput", "cdc", rate, a.duration, stop_early=True)
            )["passed"]:
                best = rate
            else:
                fail = rate
                break
        for _ in range(a.bisect):
            if fail is None or fail - best <= max(100.0, 0.1 * best):
                break
            mid = round((best + fail) / 2 / 50) * 50
            step = StepSpec(f"cdc {mid:g}/s", "throughput", "cdc", mid, a.duration, stop_early=True)
            if self._step(step)["passed"]:
                best = mid
            else:
                fail = mid
        self.results["throughput"] = {
            "max_sustained_rate": best,
            "lowest_failed_rate": fail,
            "criterion": f"every event written and completed, p99 < 1 s, over {a.duration:g} s",
        }


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())
