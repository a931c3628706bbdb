"""CPU time and memory of processes, from /proc (Linux), sampled by the harness once a second.

CPU is utime + stime. A component is a set of processes: one JVM or Python process, or
PostgreSQL's postmaster with its children (backends come and go: a child that exits is added to
the postmaster's cutime/cstime when reaped, so the postmaster's own + children's + its live
children's CPU is the cluster's exact total). Memory: VmRSS / VmHWM of single processes, and
Pss (shared pages divided among the processes sharing them) summed for PostgreSQL, whose
shared buffers every backend maps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    cpu: float  # seconds, this process
    children_cpu: float  # seconds, its reaped children


def read_stat(pid: int) -> ProcStat | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return ProcStat(pid, int(fields[1]), (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK)


def all_stats() -> dict[int, ProcStat]:
    stats = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (st := read_stat(int(entry.name))) is not None:
            stats[st.pid] = st
    return stats


def status_kib(pid: int, *fields: str) -> dict[str, int]:
    """Fields such as VmRSS / VmHWM of /proc/<pid>/status, in KiB (missing: absent)."""
    out: dict[str, int] = {}
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in fields:
                out[name] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def pss_kib(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLK_TCK, total / CLK_TCK


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = (float(v) for v in (PROC / "loadavg").read_text().split()[:3])
    return one, five, fifteen
