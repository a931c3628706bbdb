"""The idle phase: what the stack costs with no traffic at all (issue 17, target 4).

After the warm-up has drained, and a settling pause, the CPU seconds (utime + stime from /proc)
of every component over ``seconds`` with nothing offered: PostgreSQL (postmaster + backends),
Kafka, Connect, and the three Python services (rules-api when it runs, evaluator, runner).
Reported as % of one core; the JSON keeps the CPU seconds too.
"""

from __future__ import annotations

import time
from typing import Any

from bench.e2e import procstat
from bench.e2e.monitor import Monitor
from bench.e2e.stack import Stack

PYTHON_SERVICES = ("api", "evaluator", "runner")
JVMS = ("kafka", "connect")
SETTLE_SECONDS = 5.0


def measure_idle(monitor: Monitor, stack: Stack, seconds: float) -> dict[str, Any]:
    time.sleep(SETTLE_SECONDS)
    extra = {name: pid for name in ("api",) if (pid := stack.pid(name)) is not None}
    first = {name: _cpu(pid) for name, pid in extra.items()}
    window = monitor.open()
    time.sleep(seconds)
    last = {name: _cpu(pid) for name, pid in extra.items()}
    resources = monitor.close(window, {n: last[n] - first[n] for n in extra})
    cpu: dict[str, float] = resources["cpu_seconds"]
    elapsed = resources["seconds"]
    percent = {name: round(100 * value / elapsed, 2) for name, value in cpu.items()}
    python = sum(percent.get(n, 0.0) for n in PYTHON_SERVICES)
    jvms = sum(percent.get(n, 0.0) for n in JVMS)
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "core_percent": percent,
        "python_services_core_percent": round(python, 2),
        "kafka_connect_core_percent": round(jvms, 2),
        "python_services_measured": [n for n in PYTHON_SERVICES if n in cpu],
        "resources": resources,
    }


def _cpu(pid: int) -> float:
    st = procstat.read_stat(pid)
    return st.cpu if st else 0.0
