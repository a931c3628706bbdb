"""The pipeline's capacity without the load generator: drain a backlog.

With the Debezium connector paused, the generator writes N events (they wait in the WAL,
held by the replication slot); then the connector resumes and the clock starts. All stages
work at once, as in production, on cores the generator no longer uses, so the drain rate is
what the pipeline sustains when CRM writes cost it nothing: the ceiling the CRM-write load
generator cannot show on a machine it shares (bench/README.md). Each stage's pace comes from
the timestamps already used for latency: the event records' (Debezium), the command records'
(evaluator) and the notes' (runner).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from bench.e2e.measure import Progress, analyze
from bench.e2e.records import command_times, end_offsets
from bench.e2e.steps import STALL_SECONDS, StepRunner, StepSpec, release, start_generators

_STAGE_TIMES = """
SELECT EXTRACT(EPOCH FROM o.kafka_timestamp)::float8, EXTRACT(EPOCH FROM n.created_at)::float8, o.id::text
FROM outbox_events o
JOIN automation_runs r ON r.event_id = o.id AND r.practice_id = o.practice_id
JOIN notes n ON n.run_id = r.id AND n.practice_id = o.practice_id
WHERE o.practice_id = %s
"""


def run_backlog(
    runner: StepRunner,
    spec: StepSpec,
    practice_id: str,
    *,
    profile: Callable[[str], AbstractContextManager[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """``profile(step name)``, when given, records the services during the drain only."""
    stack, display = runner.stack, runner.display
    gens = start_generators(practice_id, spec.rate, spec.duration)
    stack.pause_connector()
    try:
        release(gens)
        while any(g.proc.poll() is None for g in gens):
            time.sleep(1.0)
            display.show(
                f"  {spec.name:<22} writing the backlog, connector paused: {sum(g.written for g in gens)}"
            )
        for g in gens:
            g.proc.wait(timeout=60)
        written = sum(g.written for g in gens)
        progress = Progress(runner.conn, practice_id)
        commands_start = end_offsets(stack.settings.kafka_bootstrap)
    except BaseException:
        stack.resume_connector()
        raise
    with profile(spec.name) if profile else nullcontext({}) as profiles:
        window = runner.monitor.open()
        harness0 = runner.self_cpu()
        resumed = time.time()
        stack.resume_connector()
        stalled = _drain(runner, spec, progress, written, resumed)
    resources = runner.monitor.close(window, {"harness": runner.self_cpu() - harness0})
    commands = command_times(stack.settings.kafka_bootstrap, commands_start, (practice_id,))
    analyze(runner.conn)
    published, executed, evaluated = [], [], []
    for event_ts, note_ts, event_id in runner.conn.execute(_STAGE_TIMES, (practice_id,)):
        published.append(event_ts)
        executed.append(note_ts)
        if event_id in commands:
            evaluated.append(commands[event_id])
    stages = {
        name: _pace(times, resumed)
        for name, times in (("publish", published), ("evaluate", evaluated), ("execute", executed))
    }
    drained = stages["execute"]["done_after"]
    out = {
        "written": written,
        "generator_cpu_seconds": round(sum(g.final.get("cpu_seconds", 0.0) for g in gens), 2),
        "drain_seconds": drained,
        "drain_rate": round(written / drained, 1) if drained else None,
        "drain_stages": stages,
        "aborted": f"nothing completed for {STALL_SECONDS:.0f} s" if stalled else None,
        "resources": resources,
        "profiles": profiles,
        "passed": not stalled,
    }
    display.done(
        f"  {spec.name:<22} drained {written} events in {drained:.1f} s = {out['drain_rate']}/s"
        f"  (read by Debezium by {stages['publish']['done_after']:.1f} s, evaluated by"
        f" {stages['evaluate']['done_after']:.1f} s)  other load {resources['cores_busy_other']:.2f} cores"
    )
    return out


def _drain(runner: StepRunner, spec: StepSpec, progress: Progress, written: int, resumed: float) -> bool:
    """Wait until every event has its note; True when the pipeline stalled instead."""
    last_change, last_completed = time.monotonic(), -1
    while (completed := progress.poll()) < written or progress.exact_completed() < written:
        if completed != last_completed:
            last_change, last_completed = time.monotonic(), completed
        elif time.monotonic() - last_change > STALL_SECONDS:
            return True
        runner.display.show(
            f"  {spec.name:<22} {time.time() - resumed:5.0f} s  draining: {completed}/{written} completed"
        )
        time.sleep(1.0)
    return False


def _pace(times: Sequence[float | None], resumed: float) -> dict[str, Any]:
    """When a stage had handled every event (s after the resume) and its pace meanwhile."""
    present = sorted(t for t in times if t is not None)
    if not present:
        return {"events": 0, "done_after": 0.0, "rate": None}
    done_after = present[-1] - resumed
    return {
        "events": len(present),
        "done_after": round(done_after, 2),
        "rate": round(len(present) / done_after, 1) if done_after > 0 else None,
    }
