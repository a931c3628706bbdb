"""The load generator: CRM writes in real transactions, paced by an open-loop schedule.

Event ``i`` of a step is due at ``start + i / rate`` whatever happened to earlier ones, so a
slow pipeline never lowers the offered load (a closed loop would wait for each write and hide
the backlog). Each write is what ``crmflow.crm.entities.update_patient`` does, in its own
transaction: lock the patient (``FOR NO KEY UPDATE``), update it ``RETURNING`` the row, insert
its ``crm/patient.updated`` outbox row with the library's own row and INSERT (``crmflow.outbox``),
commit: the same rows and the same statements, but through psycopg with prepared statements
instead of SQLAlchemy, whose per-statement Python work made the generator the dearest part of the
system (1.3 ms of CPU per event against ~0.6 ms this way). Several of these processes may share
one schedule (``--proc K --procs N`` takes events K, K+N, K+2N, ...), because one Python process
tops out below the rates the throughput search offers.

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

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg.types.string import TextLoader
from sqlalchemy.dialects.postgresql import psycopg as sa_psycopg

from bench.e2e.stack import dsn
from crmflow.crm.serialize import PATIENT_FIELDS, to_json
from crmflow.outbox import INSERT_EVENT, trigger_event_row
from crmflow.settings import Settings

# Connections stay open this long after the last write, so the harness's 1 s sampler sees
# the final CPU time of their PostgreSQL backends before they exit.
LINGER_SECONDS = 1.5


EVENT = "crm/patient.updated"
_COLUMNS = ", ".join(PATIENT_FIELDS.values())
_LOCK = (
    f"SELECT {_COLUMNS} FROM patients WHERE id = %(id)s AND practice_id = %(practice_id)s FOR NO KEY UPDATE"
)
_UPDATE = (
    "UPDATE patients SET updated_at = clock_timestamp(), tags = %(tags)s"
    f" WHERE id = %(id)s AND practice_id = %(practice_id)s RETURNING {_COLUMNS}"
)
_INSERT = str(INSERT_EVENT.compile(dialect=sa_psycopg.dialect()))  # the library's statement


def connect(conninfo: str) -> psycopg.Connection[dict[str, Any]]:
    conn = psycopg.connect(conninfo, row_factory=dict_row)
    conn.adapters.register_loader("uuid", TextLoader)  # ids as str, as the library reads them
    return conn


def patient_ids(conn: psycopg.Connection[dict[str, Any]], practice_id: str) -> list[str]:
    rows = conn.execute("SELECT id FROM patients WHERE practice_id = %s ORDER BY id", [practice_id])
    ids = [r["id"] for r in rows]
    conn.commit()
    return ids


def update_patient_tags(
    conn: psycopg.Connection[dict[str, Any]], practice_id: str, patient_id: str, tags: list[str]
) -> None:
    """``update_patient(conn, practice_id, patient_id, {"tags": tags})`` and its commit."""
    key = {"id": patient_id, "practice_id": practice_id}
    with conn.transaction():
        before = to_json(conn.execute(_LOCK, key, prepare=True).fetchone() or {}, PATIENT_FIELDS)
        row = conn.execute(_UPDATE, {**key, "tags": Jsonb(tags)}, prepare=True).fetchone()
        after = to_json(row or {}, PATIENT_FIELDS)
        if before["tags"] == after["tags"]:
            return  # no change, no event (as update_patient)
        changes = {"tags": {"from": before["tags"], "to": after["tags"]}}
        row = trigger_event_row(practice_id, EVENT, patient_id, {"patient": after, "changes": changes})
        conn.execute(_INSERT, row, prepare=True)


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


def worker(
    conninfo: str,
    practice_id: str,
    ids: list[str],
    schedules: list[Schedule],
    stats: Stats,
    ready: threading.Barrier,
) -> None:
    conn = connect(conninfo)  # one connection per thread, opened before the schedule starts
    ready.wait()  # connected
    ready.wait()  # the schedule is set
    schedule = schedules[0]
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
            update_patient_tags(conn, practice_id, patient_id, ["bench", f"e{i}"])
        except Exception as exc:  # a failed write is reported, never retried (it would skew pacing)
            stats.failed(exc)
            continue
        stats.record(started - due)
    time.sleep(LINGER_SECONDS)
    conn.close()


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

    conninfo = dsn(Settings())
    with connect(conninfo) as conn:
        ids = patient_ids(conn, args.practice)
    if not ids:
        print(f"no patients in practice {args.practice}", file=sys.stderr)
        return 2
    schedules: list[Schedule] = []
    stats = Stats()
    ready = threading.Barrier(args.connections + 1)
    threads = [
        threading.Thread(
            target=worker, args=(conninfo, args.practice, ids, schedules, stats, ready), daemon=True
        )
        for _ in range(args.connections)
    ]
    for t in threads:
        t.start()
    ready.wait()  # every connection open: no connection set-up inside the measured schedule
    # The harness starts every generator process at once: "ready", then it sends event 0's time.
    _emit({"ready": True})
    start_at = float(sys.stdin.readline())
    total = round(args.rate * args.duration)
    schedule = Schedule(start=start_at, rate=args.rate, total=total, proc=args.proc, procs=args.procs)
    schedules.append(schedule)
    ready.wait()
    signal.signal(signal.SIGTERM, lambda *_: schedule.stop())  # the harness gave up on the step
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        with stats.lock:
            _emit({"written": stats.written, "errors": stats.errors})
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
