"""Start, kill and restart crmflow's services as real subprocesses, and read their /metrics.

Every service runs in a process group of its own (the terminal's Ctrl-C reaches only pytest,
whose finalizers stop the services) and is recorded in a pid file, ``<run>/pids/test-<name>.pid``,
until it is stopped: a session that died without its finalizers (SIGKILL) leaves the file, and
the next session stops what it names (``stop_leftovers``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.ports import command_line, holders

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = Path(os.environ.get("CRMFLOW_RUN_DIR", ROOT / ".run"))
PID_DIR = RUN_DIR / "pids"
PID_PREFIX = "test-"
# SIGTERM -> exit: the services' own contract is 10 s (crmflow.shutdown); then SIGKILL.
STOP_TIMEOUT = 12.0
# A second instance of a service (beside the session's) listens on the service's port + this.
SPARE_PORT_OFFSET = 5

T = TypeVar("T")

# (sample name, its labels) -> value, as a Prometheus scraper reads /metrics
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def wait_for(
    predicate: Callable[[], T | None], timeout: float, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Service:
    name: str
    module: str
    port: int
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"test-{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return PID_DIR / f"{PID_PREFIX}{self.name}.pid"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 90) -> None:
        self.launch()
        wait_for(self.ready, timeout, 0.2, f"{self.name} to be ready (log: {self.log_path})")

    def launch(self) -> None:
        """Start the process, without waiting for it to be ready."""
        assert not self.running, f"{self.name} is already running (pid {self.pid})"
        taken = holders(self.port)
        assert not taken, f"{self.name}: port {self.port} is taken by {', '.join(map(str, taken))}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        PID_DIR.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=self.log_dir,
                start_new_session=True,
            )
        self.pid_path.write_text(json.dumps({"pid": self.proc.pid, "session": os.getpid()}))
        if not any(s is self for s in _STARTED):
            _STARTED.append(self)

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}; log: {self.log_path}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics(self) -> Samples:
        response = httpx.get(f"{self.url}/metrics", timeout=5)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }

    def kill(self) -> None:
        """SIGKILL the running service (a crash test whose service had already died would
        otherwise kill nothing and still pass)."""
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
        _signal_group(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=60) == -signal.SIGKILL, f"{self.name} exited before the kill"
        self.pid_path.unlink(missing_ok=True)

    def stop(self) -> float | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the seconds from SIGTERM to exit
        (None if it was not running). Whatever else runs in its process group is killed too."""
        if self.proc is None:
            return None
        took = None
        if self.proc.poll() is None:
            sent = time.monotonic()
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            took = time.monotonic() - sent
        _signal_group(self.proc.pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)
        return took

    def restart(self) -> None:
        self.stop()
        self.start()

    @contextmanager
    def restarted_with(self, **env: str) -> Iterator[None]:
        """Runs with ``env`` added for the block (restarted), then restarted without it."""
        saved = dict(self.env)
        self.env.update(env)
        try:
            self.restart()
            yield
        finally:
            self.env = saved
            self.restart()


_STARTED: list[Service] = []


def running_services() -> list[Service]:
    """The services started in this session and still running, oldest first."""
    return [s for s in _STARTED if s.running]


def stop_all() -> None:
    """Stop every service this session started that still runs, newest first."""
    for service in reversed(running_services()):
        service.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _exited(pid: int) -> bool:
    return not command_line(pid)


def stop_leftovers(pid_dir: Path = PID_DIR) -> list[str]:
    """Stop the services recorded by an earlier session that died without its finalizers
    (pid file left, its pytest gone); returns what was stopped. A live session's are left."""
    stopped = []
    for path in sorted(pid_dir.glob(f"{PID_PREFIX}*.pid")):
        try:
            record = json.loads(path.read_text())
            pid, session = int(record["pid"]), int(record["session"])
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if session != os.getpid() and command_line(session):
            continue  # that session still runs: its services are its own
        command = command_line(pid)
        if " -m crmflow" in command:  # still the service it was (a pid can be reused)
            _signal_group(pid, signal.SIGTERM)
            with suppress(AssertionError):
                wait_for(partial(_exited, pid), STOP_TIMEOUT, what=f"pid {pid} to exit")
            _signal_group(pid, signal.SIGKILL)
            stopped.append(f"pid {pid} ({command}), started by test session {session}")
        path.unlink(missing_ok=True)
    return stopped


def metric_total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and wanted <= lbls)


def lines_since(path: Path, offset: int) -> list[str]:
    """The lines written to ``path`` after its first ``offset`` bytes (a log since a test began)."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode().splitlines()
