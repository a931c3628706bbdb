"""Runs backtests in the background of the rules-api: a small thread pool, a page at a time.

Each page is read in its own short statement, judged (``tally``), and its progress written; an
update that finds the row no longer running (a DELETE cancelled it) stops the work. A failure
ends the row ``failed`` with the exception's type (never data: messages of database errors can
quote values). The events scanned stop at the practice's cap (``CRMFLOW_BACKTEST_MAX_EVENTS``):
the row ends ``done`` with ``capped: true``.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from crmflow.settings import Settings
from crmflow_api.backtests import source, store
from crmflow_api.backtests.tally import Tally
from crmflow_evaluator.rules_index import IndexedRule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    backtest_id: str
    practice_id: str
    rule: IndexedRule
    since: datetime
    until: datetime
    zone: ZoneInfo


class Backtests:
    """The rules-api's backtest workers (one pool per process).

    A heartbeat thread keeps ``updated_at`` of every backtest this process holds (queued behind
    the pool's threads or running) moving, so only a backtest whose process is gone is ever taken
    for stale (``CRMFLOW_BACKTEST_STALE_SECONDS``).
    """

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._pool = ThreadPoolExecutor(settings.backtest_workers, thread_name_prefix="backtest")
        self._stopping = threading.Event()
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None

    def submit(self, job: Job) -> None:
        with self._lock:
            self._held.add(job.backtest_id)
            if self._heartbeat is None:
                self._heartbeat = threading.Thread(target=self._beat, name="backtest-heartbeat", daemon=True)
                self._heartbeat.start()
        self._pool.submit(self.run, job)

    def close(self) -> None:
        """Stop: this process's queued and running backtests end ``failed`` (a running thread
        stops at its next page, its progress no longer accepted)."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            queued = set(self._held)
        for backtest_id in queued:
            store.finish(self.engine, backtest_id, store.FAILED, error="stopped: the rules-api stopped")
        self._pool.shutdown(wait=True)

    def _beat(self) -> None:
        interval = max(self.settings.backtest_stale_seconds / 4, 0.5)
        while not self._stopping.wait(interval):
            with self._lock:
                held = list(self._held)
            if held:
                try:
                    store.touch(self.engine, held)
                except Exception as exc:  # the database away a moment: the next beat tries again
                    log.warning("backtest heartbeat failed", extra={"error": type(exc).__name__})

    def run(self, job: Job) -> Tally | None:
        """Scan, judge and record; the Tally when done, None when cancelled, stopped or failed."""
        _lower_priority(self.settings.backtest_nice)
        tally = Tally(job.rule, job.since, job.until, job.zone, self.settings.max_chain_depth)
        try:
            return tally if self._scan(job, tally) else None
        except Exception as exc:  # never leave it running; the type only (messages may hold data)
            log.error(
                "backtest failed",
                extra={
                    "backtestId": job.backtest_id,
                    "practiceId": job.practice_id,
                    "error": type(exc).__name__,
                },
            )
            store.finish(
                self.engine,
                job.backtest_id,
                store.FAILED,
                events_scanned=tally.scanned,
                matched=tally.matched,
                by_day=tally.by_day(),
                error=f"backtest failed ({type(exc).__name__})",
            )
            return None
        finally:
            with self._lock:
                self._held.discard(job.backtest_id)

    def _scan(self, job: Job, tally: Tally) -> bool:
        cap = self.settings.backtest_max_events
        capped = False
        for page in source.pages(
            self.engine,
            job.practice_id,
            job.rule.trigger,
            job.since,
            job.until,
            self.settings.backtest_page_size,
        ):
            if self._stopping.is_set():
                store.finish(
                    self.engine, job.backtest_id, store.FAILED, error="stopped: the rules-api stopped"
                )
                return False
            for event in page:
                if tally.scanned >= cap:
                    capped = True
                    break
                tally.add(event.as_judged(), event.occurred_at)
            if capped:
                break
            if not store.progress(self.engine, job.backtest_id, tally.scanned, tally.matched, tally.by_day()):
                return False  # cancelled
        return store.finish(
            self.engine,
            job.backtest_id,
            store.DONE,
            events_scanned=tally.scanned,
            matched=tally.matched,
            by_day=tally.by_day(),
            sample=tally.sample(source.envelopes(self.engine, job.practice_id, tally.sample_ids())),
            capped=capped,
        )


def _lower_priority(nice: int) -> None:
    """Make the calling thread yield the CPU to everything else (Linux: niceness is per thread,
    so the rules-api's request threads keep theirs). Where it is refused, the backtest runs at
    the process's priority."""
    if not nice:
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except (AttributeError, OSError):
        log.debug("backtest thread priority unchanged")
