"""``make test TEST_STACK=containers``: PostgreSQL, Kafka and Debezium Connect as containers.

The images, commands and environment are docker-compose.yml's; the containers run on the host
network at the slot's ports (deploy/local/test-env.sh), so the tests see the same addresses as with
deploy/local's stack and the ``stack`` fixture goes on unchanged (migrations, topics, connector).
It needs a Docker API (tests/support/containers.py) and a registry serving those images: machines
without one (CI here) use deploy/local's stack, the default.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from testcontainers.core.container import DockerContainer

from crmflow.settings import Settings
from tests.support.containers import compose_services, docker_api
from tests.support.processes import ROOT, wait_for

INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")
START_TIMEOUT_S = 180


def _value(value: Any) -> str:
    """A compose environment value with ``${NAME:-default}`` resolved from this environment."""
    text = INTERPOLATION.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), str(value))
    return text.replace("$$", "$")


def _container(service: str, **env: str) -> DockerContainer:
    spec = compose_services()[service]
    container = DockerContainer(spec["image"]).with_kwargs(network_mode="host")
    for name, value in {**spec.get("environment", {}), **env}.items():
        container.with_env(name, _value(value))
    for volume in spec.get("volumes", []):
        host, path, *mode = volume.split(":")
        if host.startswith("./"):  # bind mounts only; named volumes stay the container's own
            container.with_volume_mapping(str(ROOT / host), path, *mode)
    return container


def _listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _connect_answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def container_stack(settings: Settings, log_dir: Path) -> Iterator[None]:
    """The three containers, ready at ``settings``' addresses; removed at the end."""
    kafka_port = settings.kafka_bootstrap.rsplit(":", 1)[1]
    controller = os.environ.get("CRMFLOW_KAFKA_CONTROLLER_PORT", "9093")
    connect_port = str(httpx.URL(settings.connect_url).port or 8083)
    pg = {
        "CRMFLOW_PG_HOST": settings.pg_host,
        "CRMFLOW_PG_PORT": str(settings.pg_port),
        "CRMFLOW_PG_USER": settings.pg_user,
        "CRMFLOW_PG_PASSWORD": settings.pg_password,
        "CRMFLOW_PG_DB": settings.pg_db,
    }
    with docker_api(log_dir), ExitStack() as started:
        # Containers are made once DOCKER_HOST names the engine (testcontainers connects at once).
        postgres = _container("postgres", **pg, PGPORT=str(settings.pg_port))  # the server's port too
        kafka = _container(
            "kafka",
            KAFKA_LISTENERS=f"INTERNAL://127.0.0.1:{kafka_port},CONTROLLER://127.0.0.1:{controller}",
            KAFKA_ADVERTISED_LISTENERS=f"INTERNAL://127.0.0.1:{kafka_port}",
            KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
            KAFKA_CONTROLLER_QUORUM_VOTERS=f"1@127.0.0.1:{controller}",
        )
        connect = _container(
            "connect",
            **pg,
            BOOTSTRAP_SERVERS=settings.kafka_bootstrap,
            ADVERTISED_HOST_NAME="127.0.0.1",
            REST_PORT=connect_port,
            ADVERTISED_PORT=connect_port,
        )
        for container in (postgres, kafka, connect):
            started.callback(container.stop)
            container.start()
        wait_for(lambda: _listening(settings.pg_host, settings.pg_port), START_TIMEOUT_S, 0.5, "PostgreSQL")
        wait_for(lambda: _listening("127.0.0.1", int(kafka_port)), START_TIMEOUT_S, 0.5, "Kafka")
        wait_for(lambda: _connect_answers(settings.connect_url), START_TIMEOUT_S, 0.5, "Kafka Connect")
        yield
