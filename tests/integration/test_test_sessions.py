"""The test fixtures' own guarantees (issue 13): a session stops every service it started, also
when SIGINT or SIGTERM interrupts it; one that was SIGKILLed leaves pid files by which the next
session stops its services; and a session refuses to start while another process holds a port of
its slot, naming that process. Each case runs a pytest of its own on ports of its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from tests.support.ports import command_line
from tests.support.processes import ROOT, stop_leftovers, wait_for

pytestmark = pytest.mark.integration

SESSION = "tests/support/interrupted_session.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def slot_env(tmp_path: Path) -> dict[str, str]:
    """A slot of free ports where nothing runs (Kafka and PostgreSQL unreachable), and its run folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMFLOW_")}
    ports = {
        name: str(_free_port())
        for name in ("PG", "KAFKA", "KAFKA_CONTROLLER", "CONNECT", "API", "EVALUATOR", "RUNNER")
    }
    env.update({f"CRMFLOW_{name}_PORT": port for name, port in ports.items()})
    env.update(
        CRMFLOW_RUN_DIR=str(tmp_path / "run"),
        CRMFLOW_KAFKA_BOOTSTRAP=f"127.0.0.1:{ports['KAFKA']}",
        CRMFLOW_CONNECT_URL=f"http://127.0.0.1:{ports['CONNECT']}",
        CRMFLOW_TEST_PID_FILE=str(tmp_path / "service.pid"),
    )
    return env


def _pytest(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.fixture
def session(slot_env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """The interrupted session, running, and the pid of the service it started."""
    proc = _pytest(slot_env, SESSION)
    pid_file = Path(slot_env["CRMFLOW_TEST_PID_FILE"])
    try:
        wait_for(lambda: pid_file.exists() or proc.poll() is not None, 60, 0.1, "the session's service")
        assert proc.poll() is None, proc.communicate()[0]
        yield proc, int(pid_file.read_text())
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        stop_leftovers(Path(slot_env["CRMFLOW_RUN_DIR"]) / "pids")


def _alive(pid: int) -> bool:
    return " -m crmflow_runner" in command_line(pid)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_an_interrupted_session_stops_the_services_it_started(
    session: tuple[subprocess.Popen[str], int], slot_env: dict[str, str], sig: signal.Signals
) -> None:
    proc, service_pid = session
    assert _alive(service_pid)
    proc.send_signal(sig)  # to pytest only: the service has a process group of its own
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, output
    assert not _alive(service_pid), output
    assert not list((Path(slot_env["CRMFLOW_RUN_DIR"]) / "pids").glob("test-*.pid"))


def test_the_next_session_stops_what_a_killed_session_left(
    session: tuple[subprocess.Popen[str], int], slot_env: dict[str, str]
) -> None:
    proc, service_pid = session
    proc.kill()  # no finalizer runs
    proc.wait()
    assert _alive(service_pid)
    stopped = stop_leftovers(Path(slot_env["CRMFLOW_RUN_DIR"]) / "pids")
    assert [f"pid {service_pid} " in line for line in stopped] == [True]
    wait_for(lambda: not _alive(service_pid), 15, 0.1, "the leftover to be gone")


def test_a_session_refuses_to_start_while_a_port_of_its_slot_is_taken(slot_env: dict[str, str]) -> None:
    port = slot_env["CRMFLOW_RUNNER_PORT"]
    listen = f"import socket, time; s = socket.create_server(('127.0.0.1', {port})); time.sleep(120)"
    holder = subprocess.Popen([sys.executable, "-c", listen])
    try:
        wait_for(lambda: _listening(int(port)), 10, 0.05, "the holder to listen")
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/e2e/test_first_event.py"],
            cwd=ROOT,
            env=slot_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert f"runner port {port}: pid {holder.pid} ({sys.executable} -c {listen})" in output
    assert "stack: " not in output  # nothing was started


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
