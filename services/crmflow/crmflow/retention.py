"""Retention (SPEC section 10): empty old outbox payloads, run traces, action-log args and
backtest samples in bounded batches. What is pruned and what never is: crmflow.retention_plan.

Each batch is its own short transaction: it takes at most ``batch_size`` rows, oldest first,
skipping rows another transaction holds (``FOR UPDATE SKIP LOCKED``: the live pipeline never
waits on retention for more than one batch's update), under a ``lock_timeout``. One run at a time
per database: a second one (another runner replica, the Helm CronJob) finds the advisory lock
taken and returns at once.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine, text

from crmflow.retention_plan import (
    KEPT_AGGREGATES,
    KEPT_RUN_STATUSES,
    PRUNABLE_OUTBOX_STATUS,
    RUNNING_BACKTEST,
    STEPS,
    Step,
    cutoff,
    drain,
)
from crmflow.settings import Settings

log = logging.getLogger("crmflow.retention")

ADVISORY_LOCK: Final = 0x63726D66_72657465  # "crmfrete": one retention run at a time

_KEPT_RUNS = "(" + ", ".join(f"'{s}'" for s in KEPT_RUN_STATUSES) + ")"
_KEPT_AGGREGATES = "(" + ", ".join(f"'{a}'" for a in KEPT_AGGREGATES) + ")"

# One statement per step: choose the batch (the partial index ix_<table>_retention holds exactly
# the rows not pruned yet, by created_at), then null the column of those rows.
_BATCH_SQL: Final = {
    "outbox_events": f"""
        WITH batch AS (
            SELECT id FROM outbox_events
            WHERE payload IS NOT NULL AND created_at < :cutoff
              AND status = '{PRUNABLE_OUTBOX_STATUS}' AND aggregate_type NOT IN {_KEPT_AGGREGATES}
            ORDER BY created_at LIMIT :limit FOR UPDATE SKIP LOCKED
        )
        UPDATE outbox_events o SET payload = NULL FROM batch WHERE o.id = batch.id
        """,
    "automation_runs": f"""
        WITH batch AS (
            SELECT id FROM automation_runs
            WHERE trace IS NOT NULL AND created_at < :cutoff AND status NOT IN {_KEPT_RUNS}
            ORDER BY created_at LIMIT :limit FOR UPDATE SKIP LOCKED
        )
        UPDATE automation_runs r SET trace = NULL FROM batch WHERE r.id = batch.id
        """,
    "automation_action_logs": f"""
        WITH batch AS (
            SELECT l.id FROM automation_action_logs l
            WHERE l.args IS NOT NULL AND l.created_at < :cutoff
              AND NOT EXISTS (
                  SELECT 1 FROM automation_runs r WHERE r.id = l.run_id AND r.status IN {_KEPT_RUNS}
              )
            ORDER BY l.created_at LIMIT :limit FOR UPDATE OF l SKIP LOCKED
        )
        UPDATE automation_action_logs a SET args = NULL FROM batch WHERE a.id = batch.id
        """,
    # backtests is small (one row per backtest run): no partial index
    "backtests": f"""
        WITH batch AS (
            SELECT id FROM backtests
            WHERE sample <> '[]'::jsonb AND until < :cutoff AND status <> '{RUNNING_BACKTEST}'
            ORDER BY until LIMIT :limit FOR UPDATE SKIP LOCKED
        )
        UPDATE backtests b SET sample = '[]'::jsonb FROM batch WHERE b.id = batch.id
        """,
}


def _prune_batch(engine: Engine, step: Step, before: datetime, limit: int, lock_timeout_ms: int) -> int:
    with engine.begin() as conn:
        conn.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
        result = conn.execute(text(_BATCH_SQL[step.table]), {"cutoff": before, "limit": limit})
        return int(result.rowcount)


def run_retention(
    engine: Engine,
    *,
    days: int,
    batch_size: int = 1000,
    lock_timeout_ms: int = 2000,
    progress: Callable[[str], None] = lambda _line: None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Prune everything older than ``days`` days; returns ``{cutoff, outboxPayloads, runTraces,
    actionLogArgs, backtestSamples}`` (rows pruned), or ``{"skipped": "..."}`` when another run
    holds the lock."""
    with engine.connect() as lock_conn:
        got = lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK}).scalar_one()
        lock_conn.commit()
        if not got:
            progress("another retention run is in progress; nothing done")
            return {"skipped": "another retention run is in progress"}
        try:
            now = lock_conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            lock_conn.commit()
            before = cutoff(now, days)
            summary: dict[str, Any] = {"cutoff": before.isoformat(), "days": days}
            for step in STEPS:

                def report(pruned: int, total: int, step: Step = step) -> None:
                    progress(f"{step.name}: pruned {pruned} (total {total})")

                summary[step.name] = drain(
                    lambda limit, step=step: _prune_batch(engine, step, before, limit, lock_timeout_ms),
                    batch_size,
                    progress=report,
                    should_stop=(stop.is_set if stop is not None else lambda: False),
                )
                progress(f"{step.name}: done, {summary[step.name]} pruned")
            return summary
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK})
            lock_conn.commit()


def run_from_settings(engine: Engine, settings: Settings, *, verbose: bool = True) -> dict[str, Any]:
    """``crmflow retention run``: progress lines on stderr."""
    return run_retention(
        engine,
        days=settings.retention_days,
        batch_size=settings.retention_batch_size,
        progress=(lambda line: print(line, file=sys.stderr, flush=True)) if verbose else (lambda _l: None),
    )


def retention_loop(make_engine: Callable[[], Engine], settings: Settings, stop: threading.Event) -> None:
    """The schedule inside the action-runner: a run every ``retention_interval_seconds`` (0: never),
    the first one an interval after start, on an engine of its own (made only when enabled). A
    failed run is logged and tried again next time."""
    interval = settings.retention_interval_seconds
    if interval <= 0:
        return
    engine = make_engine()
    while not stop.wait(interval):
        try:
            summary = run_retention(
                engine,
                days=settings.retention_days,
                batch_size=settings.retention_batch_size,
                stop=stop,
            )
            log.info("retention run done", extra={"summary": summary})
        except Exception:
            log.exception("retention run failed; next try in %s s", interval)
