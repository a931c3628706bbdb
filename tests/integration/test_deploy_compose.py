"""docker-compose.yml against the Compose Specification's JSON schema (no Docker engine runs here).

The schema comes from a registry package (deploy/docker/get-compose-schema.sh: npm's dclint ships it,
pinned by version and sha512, cached outside git). Interpolation is applied first, with the file's
defaults, as `docker compose config` does before it validates.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.support.processes import ROOT

pytestmark = pytest.mark.integration

INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    path = subprocess.run(
        [str(ROOT / "deploy" / "docker" / "get-compose-schema.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    schema = json.loads(Path(path).read_text())
    assert schema["title"] == "Compose Specification"
    return jsonschema.Draft7Validator(schema)


def _interpolated(text: str) -> dict:
    """`${VAR:-default}` -> default (an unset environment), `$$` -> `$`."""
    text = INTERPOLATION.sub(lambda m: m.group(2) or "", text).replace("$$", "$")
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def compose() -> dict:
    return _interpolated((ROOT / "docker-compose.yml").read_text())


def _errors(validator: jsonschema.Draft7Validator, document: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_is_valid_against_the_compose_specification(validator, compose):
    assert _errors(validator, compose) == []


@pytest.mark.parametrize(
    "break_it",
    [
        lambda c: c["services"]["kafka"]["healthcheck"].update(intervall="5s"),
        lambda c: c["services"]["connect-register"]["depends_on"]["migrate"].update(condition="done"),
        lambda c: c["services"]["postgres"].update(ports="55432:5432"),
    ],
    ids=["unknown-key", "bad-depends-on-condition", "ports-not-a-list"],
)
def test_the_schema_check_rejects_a_broken_file(validator, compose, break_it):
    broken = copy.deepcopy(compose)
    break_it(broken)
    assert _errors(validator, broken) != []
