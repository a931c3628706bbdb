"""Sampling profiles of the evaluator and the runner during throughput steps (``--profile``).

py-spy attaches to the running services (``--nonblocking``: it never pauses them, so the
measurement is barely disturbed) and records the stacks of the thread holding the GIL (``--gil``:
Python at work, not a thread blocked in epoll, libpq or librdkafka) as collapsed text, one
``frame;frame;... count`` line per stack (feed it to flamegraph.pl or speedscope to draw it).
The summary in the results lists the functions where the samples land (self time) and the
share of samples under each crmflow / library module (inclusive).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROFILED = ("evaluator", "runner")
SAMPLES_PER_SECOND = 50
MAX_SECONDS = 3600


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy (a dev dependency)")
    return found


class Profiler:
    def __init__(self, components: dict[str, int], out_dir: Path, stamp: str) -> None:
        self.pids = {name: components[name] for name in PROFILED if name in components}
        self.out_dir = out_dir
        self.stamp = stamp
        self.exe = py_spy()

    @contextmanager
    def recording(self, step: str) -> Iterator[dict[str, Any]]:
        """Record while the block runs (py-spy stops on SIGINT and writes what it has)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        slug = step.replace(" ", "-").replace("/", "per")
        files = {name: self.out_dir / f"e2e-{self.stamp}-{slug}-{name}.collapsed.txt" for name in self.pids}
        procs = [
            subprocess.Popen(
                [
                    self.exe, "record", "--pid", str(pid), "--duration", str(MAX_SECONDS),
                    "--rate", str(SAMPLES_PER_SECOND), "--format", "raw", "--nonblocking", "--gil",
                    "--output", str(files[name]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in self.pids.items()
        ]  # fmt: skip
        summary: dict[str, Any] = {}
        try:
            yield summary
        finally:
            for p in procs:
                p.send_signal(signal.SIGINT)
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for name, path in files.items():
                if path.exists():
                    summary[name] = {"file": str(path), **summarize(path.read_text())}


def _frame_name(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``module.py:func``"""
    func, _, where = frame.partition(" (")
    file = where.split(":")[0].rsplit("/", 1)[-1]
    return f"{file}:{func}" if file else func


def _module(frame: str) -> str:
    """py-spy names files relative to their import root: crmflow modules by module, the rest by
    package (``crmflow_runner.executor``, ``sqlalchemy``, ``psycopg``, ``asyncio``, ``json``)."""
    _, _, where = frame.partition(" (")
    parts = where.split(":")[0].removesuffix(".py").split("/")
    return ".".join(parts[:2]) if parts[0].startswith("crmflow") else parts[0]


def summarize(collapsed: str, top: int = 15) -> dict[str, Any]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [
            f for f in stack.split(";") if f and not f.startswith("process ") and not f.startswith("thread ")
        ]
        if not frames:
            continue
        total += count
        self_time[_frame_name(frames[-1])] += count
        for module in {_module(f) for f in frames if not f.startswith("<")}:
            inclusive[module] += count
    pct = (lambda n: round(100.0 * n / total, 1)) if total else (lambda n: 0.0)
    return {
        "samples": total,
        "top_self": [[name, pct(n)] for name, n in self_time.most_common(top)],
        "top_modules_inclusive": [[name, pct(n)] for name, n in inclusive.most_common(top)],
    }
