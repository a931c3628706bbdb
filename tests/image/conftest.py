"""Fixtures of the image tests: a Docker API (Docker's, or podman's service started for the session),
the image built once per session by ``make image``'s script, and the containers each test module runs.

The image tests run first in a session (see ``pytest_collection_modifyitems``): their containers
take the slot's ports and consumer groups, which the subprocess services of the e2e tests (the
session ``services`` fixture, alive until the session ends once started) would otherwise hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.containers import IMAGE, NoEngine, build_image, docker_api

HERE = Path(__file__).parent


BUILDS: list[str] = []  # make image's summary line, for the terminal summary


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: HERE not in Path(item.path).parents)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in BUILDS:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def container_engine(run_dir: Path) -> Iterator[str]:
    """docker or podman, with DOCKER_HOST pointing testcontainers at it for the session."""
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        try:
            engine = stack.enter_context(docker_api(run_dir / "logs"))
        except NoEngine as exc:
            pytest.skip(f"no container engine can be had here: {exc}")
        yield engine


@pytest.fixture(scope="session")
def image(container_engine: str, run_dir: Path) -> str:
    """The image, built (or found up to date in the engine's layer cache) once per session."""
    log = run_dir / "logs" / "image-build.log"
    seconds = build_image(container_engine, log)
    summary = [line for line in log.read_text().splitlines() if line.startswith("image: built")]
    BUILDS.append(f"{summary[-1] if summary else 'image built'} (session fixture: {seconds:.0f} s)")
    return IMAGE
