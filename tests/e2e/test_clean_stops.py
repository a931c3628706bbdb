"""Every service exits within 10 s of SIGTERM, whatever the state of its dependencies (issue 13):
running when Kafka, Connect and PostgreSQL were stopped under it, and started while they were
down. The module stops the slot's stack and starts it again at its end."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from crmflow.settings import Settings
from tests.support.processes import Service, wait_for
from tests.support.slot import SERVICES, make_service, stack_sh

pytestmark = pytest.mark.e2e

LIMIT_SECONDS = 10.0
NAMES = [name for name, _, _ in SERVICES]
# The consumers' session timeout (10 s, both consumers): by then each service has lost its group
# coordinator too, the state in which a runner was seen to outlive its SIGTERM.
NOTICE_SECONDS = 10.0


@pytest.fixture(scope="module")
def dependencies_down(services: dict[str, Service]) -> Iterator[dict[str, Service]]:
    """The session's services, ready, then the stack stopped under them; afterwards the stack
    and the session's services are back."""
    for service in services.values():
        wait_for(service.ready, 90, 0.2, f"{service.name} to be ready")
    stack_sh("stop", "all")
    try:
        time.sleep(NOTICE_SECONDS)
        yield services
    finally:
        stack_sh("start", "all")
        stack_sh("register")
        for service in services.values():
            if not service.running:
                service.start()


def _alive(service: Service) -> bool:
    """Answers /healthz, or has ended by itself."""
    if not service.running:
        return True
    try:
        return httpx.get(f"{service.url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("name", NAMES)
def test_a_running_service_exits_within_10_s_of_sigterm_once_kafka_and_postgres_are_stopped(
    dependencies_down: dict[str, Service], name: str
) -> None:
    service = dependencies_down[name]
    assert service.running, f"{name} ended by itself when its dependencies stopped; log: {service.log_path}"
    took = service.stop()
    print(f"{name} running when its dependencies stopped: exited {took} s after SIGTERM")
    assert took is not None and took < LIMIT_SECONDS, f"{name}: {took} s; log: {service.log_path}"


@pytest.mark.parametrize("name", NAMES)
def test_a_service_started_while_kafka_and_postgres_are_down_exits_within_10_s_of_sigterm(
    dependencies_down: dict[str, Service], settings: Settings, name: str
) -> None:
    service = make_service(name, settings, second=True)
    service.launch()
    wait_for(lambda: _alive(service), 60, 0.2, f"{name} to be up")
    time.sleep(3)  # trying to reach Kafka and PostgreSQL
    took = service.stop()
    outcome = "had ended by itself" if took is None else f"exited {took:.2f} s after SIGTERM"
    print(f"{name} started without its dependencies: {outcome}")
    if took is None:  # only the evaluator may: Faust ends at once when no broker answers at its start
        assert name == "evaluator", (
            f"{name} ended by itself without its dependencies; log: {service.log_path}"
        )
        assert service.proc is not None and service.proc.returncode != 0, f"log: {service.log_path}"
    else:
        assert took < LIMIT_SECONDS, f"{name} exited {took:.1f} s after SIGTERM; log: {service.log_path}"
