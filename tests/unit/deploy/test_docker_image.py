"""deploy/docker/Dockerfile installs crmflow with `--constraint requirements.lock`: that pins only what
the lock names, so every runtime dependency, transitively, must be in the lock."""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.processes import ROOT


def _locked() -> set[str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return {canonicalize_name(line.split("==")[0]) for line in lines if "==" in line}


def _runtime_closure(root: str) -> set[str]:
    """Names of ``root``'s dependencies without its extras, transitively, as installed here (the
    image's Python is the venv's: markers evaluate the same)."""
    names: set[str] = set()
    visited: set[tuple[str, tuple[str, ...]]] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while todo:
        dist, extras = todo.pop()
        for spec in metadata.requires(dist) or []:
            req = Requirement(spec)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
                continue
            key = (canonicalize_name(req.name), tuple(sorted(req.extras)))
            if key not in visited:
                visited.add(key)
                names.add(key[0])
                todo.append((req.name, key[1]))
    return names


def test_every_runtime_dependency_of_the_image_is_pinned_in_the_lock():
    closure = _runtime_closure("crmflow")
    assert {"confluent-kafka", "faust-streaming", "sqlalchemy", "psycopg-binary"} <= closure
    assert closure - _locked() == set()


def test_the_image_installs_the_lock_as_constraints_and_ships_the_register_script():
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    assert "--constraint requirements.lock ." in dockerfile
    assert "COPY deploy/docker/register_connector.py /opt/crmflow/register_connector.py" in dockerfile
    ignore = (ROOT / "deploy" / "docker" / "Dockerfile.dockerignore").read_text().split()
    assert {
        "!pyproject.toml",
        "!requirements.lock",
        "!services/",
        "!deploy/docker/register_connector.py",
    } <= set(ignore)
