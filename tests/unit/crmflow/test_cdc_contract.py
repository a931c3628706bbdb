"""The names of crmflow.cdc where a copy must stay literal: a migration is history and does not
import the code of today (the connector's copies: tests/unit/deploy/test_connector_config.py)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from crmflow import cdc
from tests.support.processes import ROOT

MIGRATIONS = ROOT / "services" / "crmflow" / "crmflow" / "db" / "migrations" / "versions"


def _migration(filename: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(filename.removesuffix(".py"), MIGRATIONS / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_initial_migration_creates_the_publication_of_crmflow_cdc() -> None:
    assert _migration("0001_initial.py").PUBLICATION == cdc.PUBLICATION
