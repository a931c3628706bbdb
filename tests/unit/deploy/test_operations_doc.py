"""docs/operations.md documents every setting crmflow processes read, and the deploy checks."""

from __future__ import annotations

from tests.support.processes import ROOT
from tests.support.settings_env import settings_env_names

DOC = ROOT / "docs" / "operations.md"


def test_configuration_reference_names_every_setting():
    text = DOC.read_text()
    assert sorted(name for name in settings_env_names() if f"`{name}`" not in text) == []


def test_names_the_operational_commands_and_files():
    text = DOC.read_text()
    for needle in (
        "crmflow dlq list",
        "crmflow dlq replay",
        "max_slot_wal_keep_size",
        "/api/internal/outbox/publish",
        "crmflow migrate",
        "deploy/grafana/crmflow-dashboard.json",
        "make compose-check",
        "make helm-check",
    ):
        assert needle in text
