"""Per-step CPU seconds and peak memory of every component, and the machine's load.

A thread samples /proc once a second for the whole run; a step opens a window and closes it,
and gets the deltas. PostgreSQL's CPU is split by what its processes serve, from
``pg_stat_activity`` (backend type, and ``application_name``, which the harness sets through
PGAPPNAME for the processes it starts): Debezium's walsender (logical decoding), the load
generator's backends, the runner's, the poller's, the harness's own queries, and the
background processes. A backend that exits between two samples loses at most its last second
to "pg: exited"; the PostgreSQL total stays exact (see procstat).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench.e2e import procstat

PG = "postgresql"
# application_name -> PostgreSQL share name (bench/e2e/stack.py sets these for what it starts)
APP_SHARES = {
    "bench-loadgen": "pg: load generator",
    "bench-poller": "pg: poller",
    "bench-harness": "pg: harness",
    "crmflow-runner": "pg: runner",
}


@dataclass
class Sample:
    at: float
    cpu: dict[str, float]  # component -> CPU seconds since it started
    pg_pids: dict[int, tuple[str, float]]  # live PostgreSQL pid -> (share, CPU seconds)
    rss_kib: dict[str, int]
    machine_busy: float
    load1: float


@dataclass
class Window:
    started: Sample
    peaks: dict[str, int] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)
    pg_first: dict[int, tuple[str, float]] = field(default_factory=dict)
    pg_last: dict[int, tuple[str, float]] = field(default_factory=dict)


class Monitor:
    def __init__(self, components: dict[str, int], *, pg_pid: int, dsn: str, interval: float = 1.0) -> None:
        self.components = components  # name -> pid of single-process components
        self.pg_pid = pg_pid
        self.dsn = dsn
        self.interval = interval
        self._windows: list[Window] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        self._conn: psycopg.Connection[Any] | None = None
        self._shares: dict[int, str] = {}

    def __enter__(self) -> Monitor:
        self._conn = psycopg.connect(self.dsn, autocommit=True, application_name="bench-harness")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._conn is not None:
            self._conn.close()

    def alive(self) -> dict[str, bool]:
        return {name: procstat.read_stat(pid) is not None for name, pid in self.components.items()}

    # -- sampling -------------------------------------------------------------------------
    def sample(self) -> Sample:
        stats = procstat.all_stats()
        cpu = {name: stats[pid].cpu if pid in stats else 0.0 for name, pid in self.components.items()}
        rss = {}
        for name, pid in self.components.items():
            rss[name] = procstat.status_kib(pid, "VmRSS").get("VmRSS", 0)
        pg_children = [st for st in stats.values() if st.ppid == self.pg_pid]
        postmaster = stats.get(self.pg_pid)
        cpu[PG] = (postmaster.cpu + postmaster.children_cpu if postmaster else 0.0) + sum(
            st.cpu for st in pg_children
        )
        rss[PG] = sum(procstat.pss_kib(pid) for pid in [self.pg_pid, *(st.pid for st in pg_children)])
        shares = self._pg_shares()
        pg_pids = {st.pid: (shares.get(st.pid, "pg: background"), st.cpu) for st in pg_children}
        busy, _ = procstat.machine_cpu()
        return Sample(time.time(), cpu, pg_pids, rss, busy, procstat.loadavg()[0])

    def _pg_shares(self) -> dict[int, str]:
        if self._conn is None:
            return self._shares
        try:
            rows = self._conn.execute(
                "SELECT pid, backend_type, application_name FROM pg_stat_activity"
            ).fetchall()
        except psycopg.Error:
            return self._shares
        shares = {}
        for pid, backend_type, app in rows:
            if backend_type == "walsender":
                shares[pid] = "pg: decoding (Debezium walsender)"
            elif backend_type == "client backend":
                shares[pid] = APP_SHARES.get(app or "", "pg: other clients")
            else:
                shares[pid] = "pg: background"
        self._shares = shares
        return shares

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            s = self.sample()
            with self._lock:
                for w in self._windows:
                    self._fold(w, s)

    @staticmethod
    def _fold(w: Window, s: Sample) -> None:
        for name, kib in s.rss_kib.items():
            w.peaks[name] = max(w.peaks.get(name, 0), kib)
        w.loads.append(s.load1)
        for pid, (share, cpu) in s.pg_pids.items():
            if pid not in w.pg_first:  # born during the window: all its CPU is the window's
                w.pg_first[pid] = (share, 0.0)
            w.pg_last[pid] = (share, cpu)

    # -- windows --------------------------------------------------------------------------
    def open(self) -> Window:
        s = self.sample()
        w = Window(started=s)
        for pid, (share, cpu) in s.pg_pids.items():
            w.pg_first[pid] = (share, cpu)
            w.pg_last[pid] = (share, cpu)
        self._fold(w, s)
        with self._lock:
            self._windows.append(w)
        return w

    def close(self, w: Window, extra_cpu: dict[str, float]) -> dict[str, Any]:
        """The window's figures; ``extra_cpu`` adds processes that report their own CPU
        (load generator, poller, the harness itself)."""
        s = self.sample()
        with self._lock:
            self._fold(w, s)
            self._windows.remove(w)
        seconds = s.at - w.started.at
        cpu = {name: round(s.cpu[name] - w.started.cpu.get(name, 0.0), 2) for name in s.cpu}
        cpu.update({k: round(v, 2) for k, v in extra_cpu.items()})
        pg_split: dict[str, float] = defaultdict(float)
        for pid, (share, last) in w.pg_last.items():
            first_share, first = w.pg_first[pid]
            # a backend's share is known once its client has said who it is
            pg_split[share if share != "pg: background" else first_share] += last - first
        pg_split["pg: exited (last second of closed connections)"] = cpu[PG] - sum(pg_split.values())
        ours = sum(v for k, v in cpu.items())
        machine = s.machine_busy - w.started.machine_busy
        return {
            "seconds": round(seconds, 2),
            "cpu_seconds": cpu,
            "pg_cpu_seconds": {k: round(v, 2) for k, v in sorted(pg_split.items()) if abs(v) >= 0.005},
            "machine_cpu_seconds": round(machine, 2),
            "other_processes_cpu_seconds": round(machine - ours, 2),
            "cores_busy_other": round((machine - ours) / seconds, 2) if seconds else 0.0,
            "load1_mean": round(sum(w.loads) / len(w.loads), 2) if w.loads else None,
            "load1_max": max(w.loads, default=None),
            "peak_memory_kib": dict(w.peaks),
            "hwm_kib": {
                name: procstat.status_kib(pid, "VmHWM").get("VmHWM", 0)
                for name, pid in self.components.items()
            },
        }
