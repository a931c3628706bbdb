"""The container image (deploy/docker/Dockerfile) run through testcontainers against the test stack.

Each container runs docker-compose.yml's command and mounts for its service (the chart runs the same
commands: tests/integration/test_deploy_helm.py), on the host network with the slot's settings: the
migrations and connector-registration jobs, then rules-api, evaluator and action-runner; one
patient goes through them end to end.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from testcontainers.core.container import DockerContainer

from crmflow.healthcheck import service_port
from crmflow.settings import Settings
from tests.support.containers import compose_services
from tests.support.processes import ROOT, Service, metric_total, wait_for
from tests.support.rules import note_rule

pytestmark = pytest.mark.image

# The compose services run as containers (the stack runs its own connect-supervisor).
SERVICES = ("rules-api", "evaluator", "action-runner")
JOBS = ("migrate", "connect-register")
# The host's own paths and tools: not the container's.
HOST_ONLY = {"CRMFLOW_RUN_DIR", "CRMFLOW_ROOT", "CRMFLOW_CACHE_DIR", "CRMFLOW_PYTHON"}
NON_ROOT_UID = "10001"
MAX_IMAGE_BYTES = 250_000_000
TOOLS = "gcc cc make pip pip3 apt-get"  # build tools, and Debian's apt-get (stays: proves the probe)


def _stack_env() -> dict[str, str]:
    """The slot's settings (deploy/local/test-env.sh), for containers on the host network."""
    env = {k: v for k, v in os.environ.items() if k.startswith("CRMFLOW_") and k not in HOST_ONLY}
    return {**env, "CRMFLOW_API_HOST": "127.0.0.1"}


def _container(image: str, service: str) -> DockerContainer:
    """A container of ``image`` running docker-compose.yml's command and mounts for ``service``."""
    spec = compose_services()[service]
    container = DockerContainer(image).with_command(spec["command"]).with_kwargs(network_mode="host")
    for name, value in _stack_env().items():
        container.with_env(name, value)
    for volume in spec.get("volumes", []):
        host, path, mode = volume.split(":")
        container.with_volume_mapping(str((ROOT / host).resolve()), path, mode)
    return container


def _logs(container: DockerContainer) -> str:
    out, err = container.get_logs()
    return (out + err).decode(errors="replace")


@dataclass
class Job:
    exit_code: int
    logs: str


def _run_to_end(container: DockerContainer, timeout: float = 240) -> Job:
    container.start()
    try:
        status = container.get_wrapped_container().wait(timeout=timeout)
        return Job(int(status["StatusCode"]), _logs(container))
    finally:
        container.stop()


def _run_beside(image: str, service: DockerContainer, command: list[str], **env: str) -> Job:
    """``command`` in a container of its own seeing ``service``'s processes and network (what an exec
    would do; podman leaves an exec's monitor process behind for minutes)."""
    pid = f"container:{service.get_wrapped_container().id}"
    container = DockerContainer(image).with_command(command).with_kwargs(network_mode="host", pid_mode=pid)
    for name, value in {**_stack_env(), **env}.items():
        container.with_env(name, value)
    return _run_to_end(container)


@dataclass
class ServiceContainer:
    """A service's container and its endpoint on the host network (a Service the test never starts:
    its url, readiness and /metrics are the container's)."""

    container: DockerContainer
    endpoint: Service

    def ready(self) -> bool:
        wrapped = self.container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status != "running":
            logs = _logs(self.container)
            raise AssertionError(f"{self.endpoint.name} container is {wrapped.status}:\n{logs}")
        return self.endpoint.ready()


@dataclass
class Deployment:
    jobs: dict[str, Job]
    services: dict[str, ServiceContainer]


@pytest.fixture(scope="module")
def deployed(image: str, stack: None, settings: Settings, run_dir: Path) -> Iterator[Deployment]:
    """The jobs run to completion, then the three services, each ready; all removed at the end."""
    jobs = {name: _run_to_end(_container(image, name)) for name in JOBS}
    services: dict[str, ServiceContainer] = {}
    try:
        if all(job.exit_code == 0 for job in jobs.values()):
            for name in SERVICES:
                port = service_port(compose_services()[name]["command"], settings)
                assert port is not None, f"{name}: its command is no service entrypoint"
                endpoint = Service(name, "", port, run_dir / "logs")
                services[name] = ServiceContainer(_container(image, name).start(), endpoint)
            for service in services.values():
                wait_for(service.ready, 120, 0.5, f"the {service.endpoint.name} container to be ready")
        yield Deployment(jobs, services)
    finally:
        for service in services.values():
            service.container.stop()


def test_the_migrations_and_registration_jobs_exit_zero(deployed: Deployment) -> None:
    for name, job in deployed.jobs.items():
        assert job.exit_code == 0, f"{name}:\n{job.logs}"
    assert "RUNNING" in deployed.jobs["connect-register"].logs


def test_each_service_container_answers_healthz_and_its_healthcheck(image: str, deployed: Deployment) -> None:
    assert tuple(deployed.services) == SERVICES, "a job failed: no service container was started"
    for name, service in deployed.services.items():
        assert httpx.get(f"{service.endpoint.url}/healthz", timeout=5).status_code == 200, name
        check = _run_beside(image, service.container, ["crmflow-healthcheck"])
        assert check.exit_code == 0, f"{name}: {check.logs}"
    # The check can fail: where the service's port does not answer.
    api = deployed.services["rules-api"].container
    assert _run_beside(image, api, ["crmflow-healthcheck"], CRMFLOW_API_PORT="1").exit_code == 1


def test_the_services_run_as_a_non_root_user(image: str, deployed: Deployment) -> None:
    for name, service in deployed.services.items():
        # The service's process (its container's pid 1): real, effective, saved and fs uid.
        status = _run_beside(image, service.container, ["cat", "/proc/1/status"]).logs
        uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
        assert uids == [NON_ROOT_UID] * 4, name


def test_the_image_is_small_labelled_and_has_no_build_tools(image: str, deployed: Deployment) -> None:
    container = deployed.services["rules-api"].container
    attrs = container.get_docker_client().client.images.get(image).attrs
    assert attrs["Size"] < MAX_IMAGE_BYTES, f"{attrs['Size'] / 1e6:.0f} MB"
    assert attrs["Config"]["User"] == f"{NON_ROOT_UID}:{NON_ROOT_UID}"
    # The image's HEALTHCHECK, as each container inherits it (podman's API shows it there only).
    config = container.get_wrapped_container().attrs["Config"]
    assert config["Healthcheck"]["Test"] == ["CMD", "crmflow-healthcheck"]
    labels = attrs["Config"]["Labels"]
    for key in ("title", "description", "version", "revision", "created"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    probe = _run_beside(
        image, container, ["sh", "-c", f"for t in {TOOLS}; do command -v $t; done; python -c 'import pip'"]
    )
    assert probe.exit_code != 0
    assert "apt-get" in probe.logs  # the base's package manager stays (Debian)
    assert "gcc" not in probe.logs and "/pip" not in probe.logs


def test_one_patient_makes_the_rules_note_through_the_containers(
    deployed: Deployment, engine: Engine, practice: dict[str, str]
) -> None:
    api_url = deployed.services["rules-api"].endpoint.url
    headers = {"Authorization": f"Bearer {practice['apiKey']}"}
    with httpx.Client(base_url=api_url, timeout=15, headers=headers) as api:
        note_rule(api, deployed.services["evaluator"].endpoint, body="Welcome {patient.firstName}!")
        response = api.post("/api/patients", json={"firstName": "Ada", "lastName": "Lovelace"})
        assert response.status_code == 201, response.text
        patient = response.json()
        notes = wait_for(
            lambda: api.get(f"/api/patients/{patient['id']}/notes").json(), 30, what="the rule's note"
        )
    assert [n["body"] for n in notes] == ["Welcome Ada!"]
    with engine.connect() as conn:
        runs = conn.execute(
            text(
                "SELECT r.status FROM automation_runs r JOIN outbox_events e ON e.id = r.event_id "
                "WHERE e.aggregate_id = :pid"
            ),
            {"pid": patient["id"]},
        ).all()
    assert [r.status for r in runs] == ["succeeded"]
    # The containers did it (the image tests run before any subprocess service starts).
    runner = deployed.services["action-runner"].endpoint.metrics()
    assert metric_total(runner, "crmflow_runner_actions_total", type="create_note", status="succeeded") >= 1


def test_each_service_container_stops_within_10_s_of_sigterm(deployed: Deployment) -> None:
    for name, service in deployed.services.items():
        wrapped = service.container.get_wrapped_container()
        started = time.monotonic()
        wrapped.kill(signal="SIGTERM")
        status = wrapped.wait(timeout=15)
        elapsed = time.monotonic() - started
        assert elapsed < 10, f"{name} took {elapsed:.1f} s"
        assert status["StatusCode"] in (0, 143), f"{name} exited with {status}:\n{_logs(service.container)}"
