"""The load generator: CRM writes in real transactions, paced by an open-loop schedule.

Event ``i`` of a step is due at ``start + i / rate`` whatever happened to earlier ones, so a
slow pipeline never lowers the offered load (a closed loop would wait for each write and hide
the backlog). Each write is ``crmflow.crm.entities.update_patient`` in its own transaction: the
patient row and its outbox row commit together, exactly as a CRM request does. Several of these
processes may share one schedule (``--proc K --procs N`` takes events K, K+N, K+2N, ...), because
one Python process tops out below the rates the throughput search offers.

Runs as ``python -m bench.e2e.loadgen``: prints ``{"ready": true}`` when connected, reads event
0's due time (epoch seconds) from stdin, then prints its progress every 0.5 s and a final line
with ``"final": true`` (counts, lateness against the schedule, own CPU and memory).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import signal
import sys
import threading
import time
from typing import Any

from sqlalchemy import Engine, create_engine, select

from crmflow.crm.entities import update_patient
from crmflow.db.tables import patients
from crmflow.settings import Settings

# Connections stay open this long after the last write, so the harness's 1 s sampler sees
# the final CPU time of their PostgreSQL backends before they exit.
LINGER_SECONDS = 1.5


def patient_ids(engine: Engine, practice_id: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(patients.c.id).where(patients.c.practice_id == practice_id).order_by(patients.c.id)
        )
        return [str(r.id) for r in rows]


class Schedule:
    """Hands out this process's share of the step's events, in due order."""

    def __init__(self, *, start: float, rate: float, total: int, proc: int, procs: int) -> None:
        self.start, self.rate, self.total = start, rate, total
        self._next = proc
        self._step = procs
        self._lock = threading.Lock()

    def stop(self) -> None:
        with self._lock:
            self.total = 0

    def take(self) -> tuple[int, float] | None:
        with self._lock:
            i = self._next
            if i >= self.total:
                return None
            self._next += self._step
        return i, self.start + i / self.rate


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.written = 0
        self.errors = 0
        self.last_error = ""
        self.lateness: list[float] = []  # seconds between an event's due time and its write

    def record(self, late: float) -> None:
        with self.lock:
            self.written += 1
            self.lateness.append(late)

    def failed(self, exc: Exception) -> None:
        with self.lock:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"


def worker(engine: Engine, practice_id: str, ids: list[str], schedule: Schedule, stats: Stats) -> None:
    rng = random.Random()
    while (slot := schedule.take()) is not None:
        i, due = slot
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        rng.seed(i)  # the same event i updates the same patient on every run
        patient_id = ids[rng.randrange(len(ids))]
        started = time.time()
        try:
            with engine.begin() as conn:
                update_patient(conn, practice_id, patient_id, {"tags": ["bench", f"e{i}"]})
        except Exception as exc:  # a failed write is reported, never retried (it would skew pacing)
            stats.failed(exc)
            continue
        stats.record(started - due)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--practice", required=True)
    p.add_argument("--rate", type=float, required=True, help="events/s of the whole step (all procs)")
    p.add_argument("--duration", type=float, required=True, help="seconds of offered load")
    p.add_argument("--proc", type=int, default=0)
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--connections", type=int, default=8, help="writer threads, one connection each")
    args = p.parse_args(argv)

    # A connection per thread, and no liveness ping before each transaction (make_engine's
    # pool_pre_ping costs a round trip per write): the generator's cost is not the pipeline's.
    settings = Settings()
    engine = create_engine(settings.database_url, pool_size=args.connections, max_overflow=0)
    ids = patient_ids(engine, args.practice)
    if not ids:
        print(f"no patients in practice {args.practice}", file=sys.stderr)
        return 2
    # warm the pool: no connection set-up inside the measured schedule
    conns = [engine.connect() for _ in range(args.connections)]
    for c in conns:
        c.close()
    # The harness starts every generator process at once: "ready", then it sends event 0's time.
    _emit({"ready": True})
    start_at = float(sys.stdin.readline())
    total = round(args.rate * args.duration)
    schedule = Schedule(start=start_at, rate=args.rate, total=total, proc=args.proc, procs=args.procs)
    signal.signal(signal.SIGTERM, lambda *_: schedule.stop())  # the harness gave up on the step
    stats = Stats()
    threads = [
        threading.Thread(target=worker, args=(engine, args.practice, ids, schedule, stats), daemon=True)
        for _ in range(args.connections)
    ]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        with stats.lock:
            _emit({"written": stats.written, "errors": stats.errors})
    time.sleep(LINGER_SECONDS)
    engine.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _emit(
        {
            "final": True,
            "written": stats.written,
            "errors": stats.errors,
            "last_error": stats.last_error,
            "late_p50": _quantile(stats.lateness, 0.50),
            "late_p99": _quantile(stats.lateness, 0.99),
            "late_max": max(stats.lateness, default=0.0),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "max_rss_kib": usage.ru_maxrss,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
