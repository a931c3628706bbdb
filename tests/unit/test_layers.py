"""The layers hold in fact: the domain imports no adapter library, and the evaluator no database.

Each check imports modules in a fresh interpreter and reads its ``sys.modules``: what a module
loads transitively is what counts, not what its own import lines say.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

DOMAIN_MODULES = (
    "crmflow.conditions",
    "crmflow.templates",
    "crmflow.triggers",
    "crmflow.actions",
    "crmflow.commands",
    "crmflow.envelope",
    # the pure modules the domain builds on, and the contracts the evaluator reads
    "crmflow.validation",
    "crmflow.crm.serialize",
    "crmflow.topics",
    "crmflow.cdc",
    "crmflow.rule_record",
    "crmflow.history_record",
    "crmflow.retention_plan",
    "crmflow.enrollment",
    "crmflow.pause",
)
ADAPTER_LIBRARIES = (
    "sqlalchemy",
    "confluent_kafka",
    "aiokafka",
    "faust",
    "httpx",
    "fastapi",
    "pydantic_settings",
)

_LIST_MODULES = """
import importlib, json, pkgutil, sys
for name in sys.argv[1:]:
    module = importlib.import_module(name.removesuffix(".*"))
    if name.endswith(".*"):  # a package and every module in it
        for info in pkgutil.walk_packages(module.__path__, name.removesuffix("*")):
            importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(*modules: str) -> set[str]:
    """Every module a fresh interpreter holds after importing ``modules`` ("pkg.*": pkg and all
    its modules)."""
    done = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, *modules], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    names: list[str] = json.loads(done.stdout)
    return set(names)


def within(names: set[str], package: str) -> list[str]:
    return sorted(n for n in names if n == package or n.startswith(package + "."))


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_a_domain_module_loads_no_adapter_library(module: str) -> None:
    names = loaded_by(module)
    assert module in names
    assert {lib: within(names, lib) for lib in ADAPTER_LIBRARIES if within(names, lib)} == {}


def test_the_evaluator_never_loads_the_database_package() -> None:
    names = loaded_by("crmflow_evaluator.*")
    assert "crmflow_evaluator.app" in names  # the walk did import the service's modules
    assert within(names, "crmflow.db") == []


def test_the_check_sees_a_library_loaded_indirectly() -> None:
    """The probe itself can fail: crmflow.rules_repo reaches crmflow.db and SQLAlchemy."""
    names = loaded_by("crmflow.rules_repo")
    assert within(names, "crmflow.db") and within(names, "sqlalchemy")
