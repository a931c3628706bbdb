"""Resumes delayed runs when they come due (durable delays, SPEC section 6).

Due rows are claimed with ``FOR UPDATE SKIP LOCKED``, so several runners never resume the same
run; a resume and its effects commit together, so a crash re-resumes it, without doubles.
Delays that came due while the runner was down fire on the first tick after restart.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine, func, select, tuple_, update

from crmflow.db.tables import scheduled_resumes
from crmflow_runner import metrics
from crmflow_runner.executor import Executor
from crmflow_runner.retry import backoff_seconds

log = logging.getLogger(__name__)
BATCH = 100


class Scheduler:
    def __init__(self, engine: Engine, executor: Executor, interval: float, stop: threading.Event) -> None:
        self.engine = engine
        self.executor = executor
        self.interval = interval
        self.stop = stop

    def run(self) -> None:
        failures = 0
        last_gauge = 0.0
        while not self.stop.wait(self.interval if failures == 0 else backoff_seconds(failures)):
            try:
                while self.tick() == BATCH and not self.stop.is_set():
                    pass
                if time.monotonic() - last_gauge > 5:
                    self._gauge()
                    last_gauge = time.monotonic()
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning(
                    "scheduler tick failed", extra={"error": type(exc).__name__, "failures": failures}
                )

    def tick(self) -> int:
        """Resume every due run (one batch); returns how many were resumed."""
        with self.engine.begin() as conn:
            due = (
                conn.execute(
                    select(scheduled_resumes)
                    .where(
                        scheduled_resumes.c.status == "pending",
                        scheduled_resumes.c.due_at <= func.clock_timestamp(),
                    )
                    .order_by(scheduled_resumes.c.due_at)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
                .mappings()
                .all()
            )
            if not due:
                return 0
            self.executor.resume(conn, due)
            keys = [(r["run_id"], r["action_index"]) for r in due]
            conn.execute(
                update(scheduled_resumes)
                .where(tuple_(scheduled_resumes.c.run_id, scheduled_resumes.c.action_index).in_(keys))
                .values(status="done", resumed_at=func.clock_timestamp())
            )
        log.info("delayed runs resumed", extra={"runs": len(due)})
        return len(due)

    def _gauge(self) -> None:
        with self.engine.connect() as conn:
            waiting = conn.execute(
                select(func.count())
                .select_from(scheduled_resumes)
                .where(scheduled_resumes.c.status == "pending")
            ).scalar_one()
        metrics.WAITING_RESUMES.set(waiting)
