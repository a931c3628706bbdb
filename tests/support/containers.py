"""A Docker API for testcontainers, on machines with or without Docker, and crmflow's image.

``deploy/docker/image.sh`` picks the engine (installing Debian's podman where none works): with
Docker, testcontainers talks to its daemon; with podman, to ``podman system service`` on a socket of
this session, started here and stopped at the end. Every container this session started is removed
at the end, whatever happened (they carry testcontainers' session label; the Ryuk reaper, an image
from a registry, is not used).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import docker
import yaml
from testcontainers.core.config import testcontainers_config
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

from tests.support.processes import ROOT

IMAGE_SH = ROOT / "deploy" / "docker" / "image.sh"
COMPOSE_FILE = ROOT / "docker-compose.yml"
# make image's tag (image.sh, docker-compose.yml's default CRMFLOW_IMAGE)
IMAGE = os.environ.get("CRMFLOW_IMAGE", "crmflow:local")


class NoEngine(Exception):
    """No container engine can be had here (the reason is the message)."""


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return services


def engine_name() -> str:
    """docker, podman or buildah (image.sh installs podman where none works), or NoEngine."""
    result = subprocess.run([IMAGE_SH, "engine"], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise NoEngine(result.stderr.strip() or f"{IMAGE_SH} engine exited with {result.returncode}")
    return result.stdout.strip()


def build_image(engine: str, log: Path) -> float:
    """``make image``'s build with ``engine`` (layers cached); returns its seconds. Output: ``log``."""
    started = time.monotonic()
    with log.open("wb") as out:
        result = subprocess.run(
            [IMAGE_SH, "build"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "CRMFLOW_ENGINE": engine},
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise AssertionError(f"image build failed ({log}):\n{tail}")
    return time.monotonic() - started


def _ping(base_url: str) -> bool:
    try:
        with closing(docker.DockerClient(base_url=base_url, timeout=5)) as client:
            return bool(client.ping())
    except docker.errors.DockerException:
        return False


@contextmanager
def _podman_service(log: Path) -> Iterator[str]:
    """``podman system service`` on a socket of its own (its output: ``log``); yields its unix:// URL."""
    with tempfile.TemporaryDirectory(prefix="crmflow-podman-") as folder, log.open("ab") as out:
        url = f"unix://{folder}/podman.sock"
        proc = subprocess.Popen(
            [IMAGE_SH, "service", url], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 30
            while not _ping(url):
                # podman is there: a service that does not work is a failure, not a skip
                if proc.poll() is not None:
                    raise AssertionError(f"podman system service exited with {proc.returncode} (log: {log})")
                if time.monotonic() > deadline:
                    raise AssertionError(f"podman system service did not answer within 30 s (log: {log})")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _remove_session_containers(url: str | None) -> None:
    with closing(docker.DockerClient(base_url=url) if url else docker.from_env()) as client:
        session = {"label": f"{LABEL_SESSION_ID}={SESSION_ID}"}
        for container in client.containers.list(all=True, filters=session):
            container.remove(force=True)


@contextmanager
def docker_api(log_dir: Path) -> Iterator[str]:
    """Points testcontainers at a Docker API for the block; yields the engine's name. NoEngine when
    none can be had (buildah alone builds images but runs no containers). Podman's log: ``log_dir``."""
    engine = engine_name()
    if engine not in ("docker", "podman"):
        raise NoEngine(f"{engine} builds images but cannot run containers for testcontainers")
    saved = {name: os.environ.get(name) for name in ("DOCKER_HOST", "TESTCONTAINERS_RYUK_DISABLED")}
    testcontainers_config.ryuk_disabled = True
    os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
    try:
        service = _podman_service(log_dir / "podman-service.log") if engine == "podman" else _docker_host()
        with service as url:
            if url:
                os.environ["DOCKER_HOST"] = url
            try:
                yield engine
            finally:
                _remove_session_containers(url)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _docker_host() -> Iterator[str | None]:
    yield os.environ.get("DOCKER_HOST")
