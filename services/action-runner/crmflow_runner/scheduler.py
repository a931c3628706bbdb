"""Durable delays (SPEC sections 6 and 8): re-emits delayed runs to their partition when they
come due.

A ``delay_seconds`` or ``delay_until`` action stores the rest of its run in ``scheduled_resumes``
(pending). When it is due, the scheduler claims it (``FOR UPDATE SKIP LOCKED``: several runners
never claim the same row), sends a ``ResumeCommand`` to the commands topic with the run's own key
(``command_key``, stored with the row when the delay was scheduled), waits for the broker's
acknowledgement, and only then marks the row ``emitted``. The consumer that owns the partition
executes the rest in line with the patient's other commands, so a delay never blocks a partition
and a patient's actions still run one at a time, in partition order.

A crash between the send and the mark re-sends the command; the consumer executes a resume only
while its row is pending or emitted (and marks it done in the same transaction as the effects; a
cancelled row is neither), so the rest of a run executes once, and never after a cancel. Delays
that came due while no runner ran fire on the first tick after a start.

A ``wait_for_event`` is a resume like the others: due at its timeout, or at once when its awaited
event arrived (``signals.py``). The scheduler also prunes the awaited events recorded longer ago
than ``CRMFLOW_WAIT_SIGNAL_RETENTION_SECONDS`` (once a minute, a bounded batch a time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from confluent_kafka import Producer
from sqlalchemy import Connection, Engine, Text, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from crmflow.commands import ResumeCommand
from crmflow.db.tables import scheduled_resumes
from crmflow.statuses import ResumeStatus
from crmflow_runner import metrics, signals
from crmflow_runner.delivery import Record, produce_all
from crmflow_runner.retry import backoff_seconds

log = logging.getLogger(__name__)
BATCH = 200
SEND_TIMEOUT = 15.0
PRUNE_EVERY_SECONDS = 60.0

_PENDING = ResumeStatus.PENDING.value
# statement_timestamp(), not clock_timestamp(): a volatile function cannot bound an index scan, so
# the tick would read every pending row (bench/timed measured 10x at 10,000 waiting runs); the
# statement's start is stable, and at most a statement's duration earlier.
_DUE = (scheduled_resumes.c.status == _PENDING) & (scheduled_resumes.c.due_at <= func.statement_timestamp())
# One fixed statement taking an array of keys (as the executor's), not an IN list per batch.
_DUE_OF_KEYS = select(
    scheduled_resumes.c.run_id,
    scheduled_resumes.c.action_index,
    scheduled_resumes.c.due_at,
    scheduled_resumes.c.command_key,
).where(_DUE, scheduled_resumes.c.command_key == any_(bindparam("keys", type_=ARRAY(Text))))
DUE_BATCH = (
    select(
        scheduled_resumes.c.run_id,
        scheduled_resumes.c.action_index,
        scheduled_resumes.c.practice_id,
        scheduled_resumes.c.due_at,
        scheduled_resumes.c.command_key,
    )
    .where(_DUE)
    .order_by(scheduled_resumes.c.due_at)
    .limit(BATCH)
    .with_for_update(skip_locked=True)
)
"""A tick's query: the earliest due pending resumes (``ix_scheduled_resumes_due``), whatever the
number of resumes not yet due (bench/timed measures it)."""
_MARK_EMITTED = text(
    f"""
    UPDATE scheduled_resumes s SET status = '{ResumeStatus.EMITTED}'
    FROM unnest(CAST(:run_id AS uuid[]), CAST(:action_index AS int[])) AS k(run_id, action_index)
    WHERE s.run_id = k.run_id AND s.action_index = k.action_index AND s.status = '{_PENDING}'
    """
)


class DueResume(Protocol):
    """A row of ``scheduled_resumes`` as the scheduler reads it."""

    run_id: Any
    action_index: int
    due_at: datetime
    command_key: str


def overtaken(due: Sequence[DueResume], others: Iterable[DueResume]) -> set[str]:
    """Keys (patients) of ``due`` with an earlier due resume among ``others`` that is not in ``due``."""
    latest: dict[str, datetime] = {}
    for r in due:
        latest[r.command_key] = max(latest.get(r.command_key, r.due_at), r.due_at)
    claimed = {(r.run_id, r.action_index) for r in due}
    return {
        o.command_key
        for o in others
        if (o.run_id, o.action_index) not in claimed
        and o.command_key in latest
        and o.due_at < latest[o.command_key]
    }


def resume_record(topic: str, row: Any) -> Record:
    """The ResumeCommand of a due row, keyed like the run's commands (its stored key)."""
    command = ResumeCommand(
        runId=str(row.run_id), actionIndex=row.action_index, practiceId=str(row.practice_id)
    )
    return Record(topic, row.command_key.encode(), command.model_dump_json().encode())


def _without_overtaking(conn: Connection, due: Sequence[Any]) -> list[Any]:
    """The claimed rows minus those of a patient with an earlier due resume claimed by another
    scheduler (locked, still pending): that one is sent first, these on a later tick. So a
    patient's resumes reach its partition in due order, also with several runner instances.

    With ``ORDER BY due_at`` and ``SKIP LOCKED``, any unclaimed due row that is earlier than one
    claimed here is locked by another scheduler.
    """
    others = conn.execute(_DUE_OF_KEYS, {"keys": sorted({r.command_key for r in due})}).all()
    blocked = overtaken(due, others)
    if blocked:
        metrics.RETRIES.labels("resume_order").inc()
    return [r for r in due if r.command_key not in blocked]


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        producer: Producer,
        stop: threading.Event,
        *,
        topic: str,
        interval: float,
        signal_retention: float = 2_592_000.0,
    ) -> None:
        self.engine = engine
        self.producer = producer
        self.stop = stop
        self.topic = topic
        self.interval = interval
        self.signal_retention = signal_retention

    def run(self) -> None:
        failures = 0
        last_gauge = 0.0
        last_prune = 0.0
        while not self.stop.wait(self.interval if failures == 0 else backoff_seconds(failures, cap=5.0)):
            try:
                while self.tick() == BATCH and not self.stop.is_set():
                    pass
                if time.monotonic() - last_gauge > 5:
                    self._gauge()
                    last_gauge = time.monotonic()
                if time.monotonic() - last_prune > PRUNE_EVERY_SECONDS:
                    self.prune_signals()
                    last_prune = time.monotonic()
                failures = 0
            except Exception as exc:  # database or broker unavailable: back off, try again
                failures += 1
                metrics.RETRIES.labels("scheduler").inc()
                log.warning(
                    "scheduler tick failed", extra={"error": type(exc).__name__, "failures": failures}
                )

    def tick(self) -> int:
        """Emit one batch of due resumes; returns how many were claimed."""
        with self.engine.begin() as conn:
            due = conn.execute(DUE_BATCH).all()
            if not due:
                return 0
            ready = _without_overtaking(conn, due)
            produce_all(self.producer, [resume_record(self.topic, r) for r in ready], SEND_TIMEOUT)
            if ready:
                conn.execute(
                    _MARK_EMITTED,
                    {"run_id": [r.run_id for r in ready], "action_index": [r.action_index for r in ready]},
                )
        log.info("delayed runs due; resume commands sent", extra={"runs": len(ready)})
        return len(due)

    def prune_signals(self) -> int:
        """Delete the awaited events kept longer than the retention (bounded batches); returns how many."""
        pruned = 0
        while not self.stop.is_set():
            with self.engine.begin() as conn:
                deleted = signals.prune(conn, self.signal_retention)
            pruned += deleted
            if deleted < 1000:
                break
        if pruned:
            log.info("awaited events pruned", extra={"signals": pruned})
        return pruned

    def _gauge(self) -> None:
        with self.engine.connect() as conn:
            waiting = conn.execute(
                select(func.count())
                .select_from(scheduled_resumes)
                .where(scheduled_resumes.c.status == _PENDING)
            ).scalar_one()
        metrics.WAITING_RESUMES.set(waiting)
