"""Session fixtures: the real stack (started once if not running) and the services.

Unit tests use none of these. Integration and end-to-end tests talk to real PostgreSQL, Kafka,
Kafka Connect with Debezium, and real service processes — never fakes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine

from crmflow.apikeys import create_key, create_practice
from crmflow.db.engine import make_engine
from crmflow.settings import Settings
from tests.support import processes
from tests.support.container_stack import container_stack
from tests.support.processes import ROOT, RUN_DIR, Service
from tests.support.reach import ReachServers, reach_servers
from tests.support.slot import SERVICES, make_service, stack_sh, taken_ports


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM ends the session as Ctrl-C does: finalizers run and stop what the session started
    (Python's default for SIGTERM is to die on the spot, leaving the services running)."""
    signal.signal(signal.SIGTERM, _interrupt)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The session's first step when it will run the stack: stop services an earlier session
    left behind (pid files), then refuse to start while another process holds a port of the slot."""
    if not any("stack" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    for leftover in processes.stop_leftovers():
        print(f"\nstopped a service an earlier test session left running: {leftover}", file=sys.stderr)
    problems = taken_ports(Settings())
    if problems:
        pytest.exit(
            f"test slot ports taken (run folder {RUN_DIR}):\n  "
            + "\n  ".join(problems)
            + "\nStop that process, or use another slot: . deploy/local/test-env.sh <SLOT>",
            returncode=4,
        )


@pytest.fixture(autouse=True)
def _stop_what_the_test_started() -> Iterator[None]:
    """A service a test started (not a fixture's) is stopped at its end, also when it failed."""
    before = {id(s) for s in processes.running_services()}
    yield
    for service in reversed(processes.running_services()):
        if id(service) not in before:
            service.stop()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def run_dir() -> Path:
    return RUN_DIR


@pytest.fixture(scope="session")
def stack_containers(settings: Settings, run_dir: Path) -> Iterator[None]:
    """``make test TEST_STACK=containers``: PostgreSQL, Kafka and Connect as containers of compose's
    images at the slot's ports (tests/support/container_stack.py), so ``stack`` finds them running.
    By default nothing: ``stack`` starts deploy/local's."""
    if os.environ.get("CRMFLOW_TEST_STACK", "local") != "containers":
        yield
        return
    with container_stack(settings, run_dir / "logs"):
        yield


@pytest.fixture(scope="session")
def stack(settings: Settings, stack_containers: None) -> Iterator[None]:
    """PostgreSQL, Kafka and Connect, migrated, topics created, connector registered."""
    connect = urlsplit(settings.connect_url)
    ports = [
        (settings.pg_host, settings.pg_port),
        (connect.hostname or "", connect.port or 80),
        tuple(settings.kafka_bootstrap.split(":")),
    ]
    started = not all(_port_open(h, int(p)) for h, p in ports)
    try:
        if started:
            stack_sh("start", "all")
        for command in (("migrate",), ("topics", "create")):
            subprocess.run([sys.executable, "-m", "crmflow", *command], check=True, cwd=ROOT)
        stack_sh("register")
        yield
    finally:
        processes.stop_all()  # before their dependencies go
        if started and not os.environ.get("CRMFLOW_KEEP_STACK"):
            stack_sh("stop", "all")


@pytest.fixture(scope="session")
def engine(stack: None, settings: Settings) -> Engine:
    return make_engine(settings)


@pytest.fixture(scope="session")
def reach() -> Iterator[ReachServers]:
    """The SMTP server and SMS provider the senders reach (tests/support/reach.py); started before
    the services, whose environment then points at them."""
    yield from reach_servers()


@pytest.fixture(scope="session")
def services(stack: None, settings: Settings, reach: ReachServers) -> Iterator[dict[str, Service]]:
    """The services as subprocesses, started once; tests may kill and restart them."""
    procs = {name: make_service(name, settings) for name, _, _ in SERVICES}
    try:
        for service in procs.values():
            service.start()
        yield procs
    finally:
        for service in reversed(procs.values()):
            service.stop()


@pytest.fixture
def practice(engine: Engine, settings: Settings) -> dict[str, str]:
    """A fresh practice (tests never share tenants) with an API key."""
    with engine.begin() as conn:
        practice_id = create_practice(conn, f"Test practice {uuid.uuid4().hex[:8]}")
        api_key = create_key(conn, practice_id, settings.api_key_secret)
    return {"id": practice_id, "apiKey": api_key}


@pytest.fixture
def api(services: dict[str, Service], practice: dict[str, str]) -> Iterator[httpx.Client]:
    """An HTTP client of the running rules-api, authenticated as ``practice``."""
    with httpx.Client(
        base_url=services["api"].url, timeout=15, headers={"Authorization": f"Bearer {practice['apiKey']}"}
    ) as client:
        yield client


@pytest.fixture
def other(engine: Engine, settings: Settings, services: dict[str, Service]) -> Iterator[httpx.Client]:
    """A client of a second practice."""
    with engine.begin() as conn:
        practice_id = create_practice(conn, f"Other practice {uuid.uuid4().hex[:8]}")
        key = create_key(conn, practice_id, settings.api_key_secret)
    with httpx.Client(
        base_url=services["api"].url, timeout=15, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        yield client
