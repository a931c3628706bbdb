"""Start, kill and restart crmflow's services as real subprocesses, and read their /metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]

# (sample name, its labels) -> value, as a Prometheus scraper reads /metrics
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
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

    def start(self, timeout: float = 90) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            cwd=self.log_dir,
        )
        wait_for(self.ready, timeout, 0.2, f"{self.name} to be ready (log: {self.log_path})")

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
        self.proc.kill()
        assert self.proc.wait(timeout=60) == -signal.SIGKILL, f"{self.name} exited before the kill"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

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


def metric_total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and wanted <= lbls)


def lines_since(path: Path, offset: int) -> list[str]:
    """The lines written to ``path`` after its first ``offset`` bytes (a log since a test began)."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode().splitlines()
