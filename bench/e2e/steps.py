"""One measured step: a fresh tenant, a fixed offered rate for a fixed time, then the drain.

A step may offer several loads at once, each in a fresh tenant of its own at its own rate, all
released together (the fairness phase: a busy practice beside a quiet one); its figures are then
kept per load (``loads``) as well as over all of its events.

The step's window (CPU, memory, load) runs from the first scheduled event until the last event
has its note (or the drain gives up), so the CPU seconds are those the step's events cost,
backlog included.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import psycopg
from sqlalchemy import Engine

from bench.e2e.measure import Progress, analyze, stage_breakdown, step_latencies, summarize
from bench.e2e.monitor import Monitor
from bench.e2e.records import command_times, end_offsets
from bench.e2e.stack import ROOT, Stack, dsn
from bench.e2e.workload import create_tenant, wait_rule_held

# Throughput criterion: p99 below this, over the whole step.
P99_LIMIT = 1.0
# One generator process per this many events/s: one process writes ~700/s on this machine's
# cores (GIL-bound), and more processes than that only add contention.
RATE_PER_GENERATOR = 750.0
CONNECTIONS_PER_GENERATOR = 8
# The drain fails when nothing completes for this long (a stuck pipeline, not a slow one).
STALL_SECONDS = 60.0


Body = Callable[["StepSpec", str, "subprocess.Popen[str] | None"], dict[str, Any]]


@dataclass(frozen=True)
class Load:
    """One practice's share of a step: its label in the results and its offered rate."""

    label: str
    rate: float


@dataclass(frozen=True)
class StepSpec:
    name: str
    phase: str  # warmup | latency | fairness | polling | throughput | capacity
    design: str  # cdc | poll-1s | poll-5s ...
    rate: float  # events/s of the whole step (with ``loads``: their sum)
    duration: float
    poll_interval: float | None = None
    stop_early: bool = False  # throughput steps stop once p99 >= 1 s is certain
    loads: tuple[Load, ...] = ()  # several practices at once; empty: one practice at ``rate``

    @property
    def parts(self) -> tuple[Load, ...]:
        return self.loads or (Load("", self.rate),)

    @classmethod
    def concurrent(cls, name: str, phase: str, loads: tuple[Load, ...], duration: float) -> StepSpec:
        """A CDC step offering ``loads`` together, each in a practice of its own."""
        return cls(name, phase, "cdc", sum(load.rate for load in loads), duration, loads=loads)


@dataclass
class Generator:
    proc: subprocess.Popen[str]
    last: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            if msg.get("ready"):
                self.ready.set()
            elif msg.get("final"):
                self.final = msg
            else:
                self.last = msg

    @property
    def written(self) -> int:
        return int((self.final or self.last).get("written", 0))


def _spawn(module: str, args: list[str], app: str, *, stdin: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, "PGAPPNAME": app},
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )


def start_generators(practice_id: str, rate: float, duration: float) -> list[Generator]:
    """Load generator processes, connected and waiting for ``release``."""
    n = max(1, math.ceil(rate / RATE_PER_GENERATOR))
    gens = [
        Generator(
            _spawn(
                "bench.e2e.loadgen",
                [
                    "--practice", practice_id,
                    "--rate", str(rate),
                    "--duration", str(duration),
                    "--proc", str(k),
                    "--procs", str(n),
                    "--connections", str(CONNECTIONS_PER_GENERATOR),
                ],
                "bench-loadgen",
                stdin=True,
            )
        )
        for k in range(n)
    ]  # fmt: skip
    for g in gens:
        threading.Thread(target=g.read, daemon=True).start()
    for g in gens:
        if not g.ready.wait(120):
            raise RuntimeError("a load generator did not connect within 120 s")
    return gens


def release(gens: list[Generator]) -> float:
    """Start the schedule of every generator at once; returns event 0's due time."""
    start = time.time() + 0.5
    for g in gens:
        assert g.proc.stdin is not None
        g.proc.stdin.write(f"{start}\n")
        g.proc.stdin.flush()
    return start


class Display:
    """One line, rewritten every second on a terminal; a line every 10 s otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.last_plain = 0.0

    def show(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[2K" + text)
            self.out.flush()
        elif time.monotonic() - self.last_plain >= 10:
            self.out.write(text + "\n")
            self.out.flush()
            self.last_plain = time.monotonic()

    def done(self, text: str) -> None:
        self.out.write(("\r\x1b[2K" if self.tty else "") + text + "\n")
        self.out.flush()


def _verdict(spec: StepSpec, passed: bool) -> str:
    if spec.phase != "throughput":
        return "done"
    return "PASS" if passed else "FAIL"


def _figures(
    gens: list[Generator],
    planned: int,
    latencies: list[float],
    stages: dict[str, Any],
    duration: float,
    aborted: str | None,
) -> dict[str, Any]:
    """What the generators ``gens`` wrote and the latencies of those events."""
    written = sum(g.written for g in gens)
    out: dict[str, Any] = {
        "planned": planned,
        "written": written,
        "write_errors": sum(g.final.get("errors", 0) for g in gens),
        "generators": len(gens),
        "generator_lateness": {
            "p50": max((g.final.get("late_p50", 0.0) for g in gens), default=0.0),
            "p99": max((g.final.get("late_p99", 0.0) for g in gens), default=0.0),
            "max": max((g.final.get("late_max", 0.0) for g in gens), default=0.0),
        },
        "achieved_rate": round(written / duration, 1) if not aborted else None,
        "latency": summarize(latencies),
        "stages": stages,
    }
    if out["write_errors"]:
        out["last_write_error"] = next(g.final["last_error"] for g in gens if g.final.get("errors"))
    return out


def _percentiles(latency: dict[str, Any]) -> str:
    return (
        f"p50 {_ms(latency['p50'])}  p95 {_ms(latency['p95'])}"
        f"  p99 {_ms(latency['p99'])}  max {_ms(latency['max'])}"
    )


def _ms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-" if math.isnan(seconds) else "inf"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


class StepRunner:
    def __init__(self, *, stack: Stack, engine: Engine, monitor: Monitor, display: Display) -> None:
        self.stack = stack
        self.engine = engine
        self.monitor = monitor
        self.display = display
        self.conn = psycopg.connect(dsn(stack.settings), autocommit=True, application_name="bench-harness")
        self.evaluator_url = f"http://127.0.0.1:{stack.settings.evaluator_port}"

    def close(self) -> None:
        self.conn.close()

    def run(self, spec: StepSpec, body: Body | None = None) -> dict[str, Any]:
        """A step in a fresh tenant (one per load of ``spec.loads``); ``body`` offers the load
        (default: at a fixed rate) and returns the step's figures."""
        if body is not None and len(spec.parts) > 1:
            raise ValueError(f"step {spec.name!r}: a custom body offers one load, not {len(spec.parts)}")
        stamp = time.strftime("%H:%M:%S")
        tenants = [
            create_tenant(self.engine, f"bench {spec.name}{f' {load.label}' if load.label else ''} {stamp}")
            for load in spec.parts
        ]
        for tenant in tenants:
            wait_rule_held(self.evaluator_url, tenant)
        practice_ids = [t.practice_id for t in tenants]
        poller: subprocess.Popen[str] | None = None
        result: dict[str, Any] = {
            "name": spec.name,
            "phase": spec.phase,
            "design": spec.design,
            "offered_rate": spec.rate,
            "duration": spec.duration,
            "practice_id": practice_ids[0],
        }
        if spec.poll_interval is not None:
            if len(practice_ids) > 1:
                raise ValueError(f"step {spec.name!r}: the poller publishes one practice")
            self.stack.to_polling()
            ends_before = self.stack.event_topic_ends()
            poller = _spawn(
                "bench.e2e.poller",
                ["--practice", practice_ids[0], "--interval", str(spec.poll_interval)],
                "bench-poller",
            )
        try:
            if body is not None:
                result.update(body(spec, practice_ids[0], poller))
            else:
                result.update(self._offer_and_drain(spec, practice_ids))
        finally:
            if poller is not None:
                poller.terminate()
                out, _ = poller.communicate(timeout=60)
                result["poller"] = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
                ends_after_poll = self.stack.event_topic_ends()
                self.stack.to_cdc()
                time.sleep(5)  # Debezium would re-publish the poller's events now, if anything
                result["republished_by_cdc"] = self.stack.event_topic_ends() - ends_after_poll
                result["published_by_poller"] = ends_after_poll - ends_before
        if poller is not None:
            result["resources"]["cpu_seconds"]["poller"] = round(result["poller"].get("cpu_seconds", 0.0), 2)
        return result

    def _offer_and_drain(self, spec: StepSpec, practice_ids: list[str]) -> dict[str, Any]:
        """Every load of the step at once, open loop, one practice each; then the drain."""
        parts = list(zip(spec.parts, practice_ids, strict=True))
        groups = [start_generators(practice_id, load.rate, spec.duration) for load, practice_id in parts]
        gens = [g for group in groups for g in group]
        progress = [Progress(self.conn, practice_id) for practice_id in practice_ids]
        commands_start = end_offsets(self.stack.settings.kafka_bootstrap)
        window = self.monitor.open()
        harness0 = self.self_cpu()
        start = release(gens)
        planned_each = [round(load.rate * spec.duration) for load in spec.parts]
        planned = sum(planned_each)
        aborted: str | None = None
        written_1s_ago = 0
        last_change, last_completed = time.monotonic(), -1
        while True:
            time.sleep(1.0)
            self._check_services()
            written = sum(g.written for g in gens)
            offering = any(g.proc.poll() is None for g in gens)
            completed = sum(p.poll() for p in progress)
            if not offering and completed >= written:
                # the incremental count may miss a few
                completed = sum(p.exact_completed() for p in progress)
                if completed >= written:
                    break
            if completed != last_completed:
                last_change, last_completed = time.monotonic(), completed
            elif time.monotonic() - last_change > STALL_SECONDS:
                aborted = aborted or f"nothing completed for {STALL_SECONDS:.0f} s"
                break
            elapsed = time.time() - start
            late = sum(p.over(P99_LIMIT) for p in progress) + max(0, written_1s_ago - completed)
            if spec.stop_early and offering and aborted is None and late > 0.01 * planned:
                aborted = f"stopped at {elapsed:.0f} s: {late} events already over {P99_LIMIT:.0f} s (> 1%)"
                for g in gens:
                    g.proc.terminate()
            written_1s_ago = written
            if spec.loads:
                p99s = " / ".join(
                    f"{load.label} {_ms(p.p99())}" for load, p in zip(spec.loads, progress, strict=True)
                )
            else:
                p99s = f"{_ms(progress[0].p99()):>8}"
            self.display.show(
                f"  {spec.name:<22} {elapsed:5.0f} s  offered {min(planned, int(elapsed * spec.rate)):>7}"
                f"  written {written:>7}  completed {completed:>7}  backlog {written - completed:>6}"
                f"  p99 so far {p99s}  load {os.getloadavg()[0]:4.1f}" + ("  (stopping)" if aborted else "")
            )
        for g in gens:
            g.proc.wait(timeout=60)
        harness_cpu = self.self_cpu() - harness0
        gen_cpu = sum(g.final.get("cpu_seconds", 0.0) for g in gens)
        resources = self.monitor.close(window, {"load generator": gen_cpu, "harness": harness_cpu})
        resources["peak_memory_kib"]["load generator (each)"] = max(
            (g.final.get("max_rss_kib", 0) for g in gens), default=0
        )
        analyze(self.conn)
        times = command_times(self.stack.settings.kafka_bootstrap, commands_start, tuple(practice_ids))
        each = [step_latencies(self.conn, practice_id) for practice_id in practice_ids]
        if spec.loads:
            out = _figures(gens, planned, [v for vs in each for v in vs], {}, spec.duration, aborted)
            out["loads"] = [
                {
                    "label": load.label,
                    "practice_id": practice_id,
                    "offered_rate": load.rate,
                    **_figures(
                        group,
                        n,
                        latencies,
                        stage_breakdown(self.conn, practice_id, times),
                        spec.duration,
                        aborted,
                    ),
                }
                for (load, practice_id), group, n, latencies in zip(
                    parts, groups, planned_each, each, strict=True
                )
            ]
        else:
            stages = stage_breakdown(self.conn, practice_ids[0], times)
            out = _figures(gens, planned, each[0], stages, spec.duration, aborted)
        latencies = out["latency"]
        written = out["written"]
        out["aborted"] = aborted
        out["resources"] = resources
        out["passed"] = bool(
            not aborted
            and written >= 0.99 * planned
            and latencies["completed"] == written
            and latencies["p99"] < P99_LIMIT
        )
        self.display.done(
            f"  {spec.name:<22} {_verdict(spec, out['passed'])}  written {written}/{planned}"
            f"  {_percentiles(latencies)}"
            f"  other load {resources['cores_busy_other']:.2f} cores" + (f"  [{aborted}]" if aborted else "")
        )
        for part in out.get("loads", []):
            self.display.done(
                f"    {part['label']:<20} {part['offered_rate']:g}/s"
                f"  written {part['written']}/{part['planned']}  {_percentiles(part['latency'])}"
            )
        return out

    @staticmethod
    def self_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def _check_services(self) -> None:
        dead = [name for name, ok in self.monitor.alive().items() if not ok]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited during the step; logs: {self.stack.run_dir}/logs")
