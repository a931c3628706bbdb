"""Applies bulk cancel/retry operations (``crmflow.bulk``) in the background, a chunk of runs per
transaction, so a large operation never holds many locks for long and its progress is visible
(``GET /api/runs/bulk/{id}``). Several runner instances share the work (``SKIP LOCKED``); an
operation interrupted by a restart continues where it stopped (each run's outcome is recorded with
its change, in the same transaction)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from crmflow.bulk import apply_chunk
from crmflow_runner import metrics
from crmflow_runner.retry import backoff_seconds

log = logging.getLogger(__name__)


class BulkWorker:
    def __init__(self, engine: Engine, stop: threading.Event, *, interval: float) -> None:
        self.engine = engine
        self.stop = stop
        self.interval = interval

    def run(self) -> None:
        failures = 0
        while not self.stop.wait(self.interval if failures == 0 else backoff_seconds(failures, cap=5.0)):
            try:
                while self.tick() and not self.stop.is_set():
                    pass
                failures = 0
            except Exception as exc:  # database unavailable: back off, try again
                failures += 1
                metrics.RETRIES.labels("bulk").inc()
                log.warning(
                    "bulk operation chunk failed", extra={"error": type(exc).__name__, "failures": failures}
                )

    def tick(self) -> int:
        """Apply one chunk; returns how many runs it processed (0: no open operation)."""
        with self.engine.begin() as conn:
            processed = apply_chunk(conn)
        if processed:
            log.info("bulk operation chunk applied", extra={"runs": processed})
        return processed
