"""Latency from the timestamps PostgreSQL writes into the rows themselves.

An event's latency is ``notes.created_at - outbox_events.created_at``: both are
``clock_timestamp()`` at insert, on the database's clock, joined through
``automation_runs.event_id`` and ``notes.run_id``. The outbox row's time is taken before its
transaction commits (Debezium cannot see it earlier, so the producer's commit is inside the
interval); the note's is taken a few statements before the runner commits, so the interval
leaves out the runner's own COMMIT (the runner's batch_seconds histogram bounds it).
An event without a note yet counts as infinitely late.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import psycopg

from bench.e2e.workload import TRIGGER

PERCENTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))

_LATENCIES = """
SELECT EXTRACT(EPOCH FROM n.created_at - o.created_at)::float8
FROM outbox_events o
LEFT JOIN automation_runs r ON r.event_id = o.id AND r.practice_id = o.practice_id
LEFT JOIN notes n ON n.run_id = r.id AND n.practice_id = o.practice_id
WHERE o.practice_id = %s AND o.event_name = %s
"""

# Progress only (a display, and the early stop of a hopeless step): runs finished since a
# watermark, through the (practice_id, started_at) index. finished_at is written in the same
# transaction as the note, a few statements later.
_FINISHED_SINCE = """
SELECT r.id, EXTRACT(EPOCH FROM r.finished_at - o.created_at)::float8, r.started_at
FROM automation_runs r JOIN outbox_events o ON o.id = r.event_id
WHERE r.practice_id = %s AND r.started_at > %s AND r.finished_at IS NOT NULL
"""
_FINISHED_COUNT = """
SELECT count(*) FROM automation_runs WHERE practice_id = %s AND finished_at IS NOT NULL
"""
# A run row becomes visible when the runner commits, up to a batch after its started_at.
WATERMARK_MARGIN = timedelta(seconds=3)


def quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted list (inf when the rank falls on an unfinished event)."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summarize(latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    finished = [v for v in ordered if math.isfinite(v)]
    out: dict[str, Any] = {"events": len(ordered), "completed": len(finished)}
    for name, q in PERCENTILES:
        out[name] = quantile(ordered, q)
    out["max"] = ordered[-1] if ordered else math.nan
    out["mean"] = sum(finished) / len(finished) if finished else math.nan
    out["over_1s"] = sum(1 for v in ordered if v > 1.0)
    return out


def analyze(conn: psycopg.Connection[Any]) -> None:
    """Fresh statistics before a step's joins: on a fresh database autovacuum has not analyzed
    the tables yet, and the planner then nests loops over every note (minutes, not ms)."""
    conn.execute("ANALYZE outbox_events, automation_runs, notes")


def step_latencies(conn: psycopg.Connection[Any], practice_id: str) -> list[float]:
    rows = conn.execute(_LATENCIES, (practice_id, TRIGGER)).fetchall()
    return [math.inf if v is None else float(v) for (v,) in rows]


class Progress:
    """Completions of one step as they commit (approximate; the final figures use the notes)."""

    def __init__(self, conn: psycopg.Connection[Any], practice_id: str) -> None:
        self.conn = conn
        self.practice_id = practice_id
        self.seen: set[Any] = set()
        self.latencies: list[float] = []
        self.watermark: Any = "-infinity"
        self._newest: Any = None

    def poll(self) -> int:
        rows = self.conn.execute(_FINISHED_SINCE, (self.practice_id, self.watermark)).fetchall()
        for run_id, latency, started_at in rows:
            if run_id in self.seen:
                continue
            self.seen.add(run_id)
            self.latencies.append(latency)
            if self._newest is None or started_at > self._newest:
                self._newest = started_at
        if self._newest is not None:
            self.watermark = self._newest - WATERMARK_MARGIN
        return len(self.seen)

    def exact_completed(self) -> int:
        row = self.conn.execute(_FINISHED_COUNT, (self.practice_id,)).fetchone()
        return int(row[0]) if row else 0

    def p99(self) -> float:
        return quantile(sorted(self.latencies), 0.99)

    def over(self, seconds: float) -> int:
        return sum(1 for v in self.latencies if v > seconds)


_STAGE_ROWS = """
SELECT o.id::text, EXTRACT(EPOCH FROM o.created_at)::float8, EXTRACT(EPOCH FROM o.kafka_timestamp)::float8,
       EXTRACT(EPOCH FROM r.started_at)::float8, EXTRACT(EPOCH FROM n.created_at)::float8
FROM outbox_events o
JOIN automation_runs r ON r.event_id = o.id AND r.practice_id = o.practice_id
JOIN notes n ON n.run_id = r.id AND n.practice_id = o.practice_id
WHERE o.practice_id = %s AND o.event_name = %s
"""
STAGES = (
    ("publish", "outbox row -> event record on Kafka (Debezium or the poller, Connect's producer)"),
    ("evaluate", "event record -> its command record (evaluator: consume, evaluate, produce)"),
    ("deliver", "command record -> run row inserted (runner: consume, its batch's first statements)"),
    ("execute", "run row -> note row (the rest of the runner's transaction)"),
)


def stage_breakdown(
    conn: psycopg.Connection[Any], practice_id: str, command_times: dict[str, float]
) -> dict[str, dict[str, float]]:
    """p50/p99 of each stage, from the rows' timestamps and the Kafka record timestamps
    (``outbox_events.kafka_timestamp`` is the event record's, as the runner stored it;
    ``command_times`` maps an event id to its command record's, read back from Kafka)."""
    spans: dict[str, list[float]] = {name: [] for name, _ in STAGES}
    for event_id, created, event_ts, run_at, note_at in conn.execute(_STAGE_ROWS, (practice_id, TRIGGER)):
        command_ts = command_times.get(event_id)
        if event_ts is None or command_ts is None:
            continue
        spans["publish"].append(event_ts - created)
        spans["evaluate"].append(command_ts - event_ts)
        spans["deliver"].append(run_at - command_ts)
        spans["execute"].append(note_at - run_at)
    out = {}
    for name, values in spans.items():
        ordered = sorted(values)
        out[name] = {"p50": quantile(ordered, 0.5), "p99": quantile(ordered, 0.99), "events": len(ordered)}
    return out
