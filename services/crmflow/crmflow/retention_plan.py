"""What retention prunes, and when it stops (SPEC section 10): pure, so it is unit-tested alone.

Retention empties the columns that may hold patient data once a row is older than
``CRMFLOW_RETENTION_DAYS``; the rows themselves stay, with their ids, statuses and timestamps
(run lists, the event trace and stats still work; the audit log is never pruned). A row that is
still needed is never pruned, whatever its age:

- an outbox row not yet ``published`` (Debezium or a connector recovery may still send it; rule
  changes are deleted once written, and would be kept as well);
- the trace of a run that is ``running`` or ``waiting`` (a durable delay resumes it);
- the action-log args of such a run;
- the sample of a backtest still ``running`` (its worker writes it when it ends).

A backtest's sample (would-be actions with placeholders resolved, i.e. patient data copied from
events) goes once the newest event it may hold (its window's ``until``) is older than the window:
the events it was taken from are pruned by then too. Its counts and per-day figures stay.

The outbox payloads inside the window are kept whole: they are the source of past events for
backtests (SPEC section 10), which therefore cover exactly the retained window.

Each step prunes in batches of ``batch_size`` rows, one short transaction per batch, until a
batch comes back short: :func:`drain` is that loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from crmflow.statuses import RunStatus

KEPT_RUN_STATUSES: Final = (RunStatus.RUNNING.value, RunStatus.WAITING.value)
"""Runs whose trace and action-log args are kept at any age (they still execute)."""

PRUNABLE_OUTBOX_STATUS: Final = "published"
KEPT_AGGREGATES: Final = ("rule",)
RUNNING_BACKTEST: Final = "running"


@dataclass(frozen=True)
class Step:
    """One kind of data retention empties: ``column`` of ``table`` (SQL NULL; a backtest's sample
    ``[]``, its column being NOT NULL)."""

    name: str  # as progress lines and the summary name it
    table: str
    column: str


STEPS: Final = (
    Step("outboxPayloads", "outbox_events", "payload"),
    Step("runTraces", "automation_runs", "trace"),
    Step("actionLogArgs", "automation_action_logs", "args"),
    Step("backtestSamples", "backtests", "sample"),
)


def cutoff(now: datetime, days: int) -> datetime:
    """Rows created before this are pruned."""
    if days < 1:
        raise ValueError("retention days must be at least 1")
    return now - timedelta(days=days)


def drain(
    prune_batch: Callable[[int], int],
    batch_size: int,
    *,
    progress: Callable[[int, int], None] = lambda _batch, _total: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Call ``prune_batch(batch_size)`` (one transaction, returns the rows it pruned) until a batch
    prunes fewer than ``batch_size`` rows, or ``should_stop()``; reports each batch to
    ``progress(pruned, total so far)``. Returns the total."""
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    total = 0
    while not should_stop():
        pruned = prune_batch(batch_size)
        total += pruned
        if pruned:
            progress(pruned, total)
        if pruned < batch_size:
            break
    return total
