"""Session fixtures: the real stack (started once if not running) and the three services.

Unit tests use none of these. Integration and end-to-end tests talk to real PostgreSQL, Kafka,
Kafka Connect with Debezium, and real service processes — never fakes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine

from crmflow.apikeys import create_key, create_practice
from crmflow.db.engine import make_engine
from crmflow.settings import Settings
from tests.support.container_stack import container_stack
from tests.support.processes import ROOT, Service

STACK = str(ROOT / "deploy" / "local" / "stack.sh")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _run(*args: str) -> None:
    subprocess.run(args, check=True, cwd=ROOT)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def run_dir() -> Path:
    return Path(os.environ.get("CRMFLOW_RUN_DIR", ROOT / ".run"))


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
    if started:
        _run(STACK, "start", "all")
    _run(sys.executable, "-m", "crmflow", "migrate")
    _run(sys.executable, "-m", "crmflow", "topics", "create")
    _run(STACK, "register")
    yield
    if started and not os.environ.get("CRMFLOW_KEEP_STACK"):
        _run(STACK, "stop", "all")


@pytest.fixture(scope="session")
def engine(stack: None, settings: Settings) -> Engine:
    return make_engine(settings)


@pytest.fixture(scope="session")
def services(stack: None, settings: Settings, run_dir: Path) -> Iterator[dict[str, Service]]:
    """The three services as subprocesses, started once; tests may kill and restart them."""
    procs = {
        "api": Service("api", "crmflow_api", settings.api_port, run_dir / "logs"),
        "evaluator": Service("evaluator", "crmflow_evaluator", settings.evaluator_port, run_dir / "logs"),
        "runner": Service("runner", "crmflow_runner", settings.runner_port, run_dir / "logs"),
    }
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
