"""A run's context without a database: the patient is in the batch's cache already and the
database clock is fixed. A handler or executor path that reaches for the connection fails the
test (there is none), so these tests cover only what happens before and besides SQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection

from crmflow.commands import RunCommandDict
from crmflow_runner.run_context import DeferredWrites, PatientCache, RunContext
from tests.support.runner import run_command

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PRACTICE = str(uuid.uuid4())


class ClockedContext(RunContext):
    def db_now(self) -> datetime:
        return NOW


def patient_json(**fields: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "practiceId": PRACTICE,
        "firstName": "Ann",
        "lastName": "Lee",
        "email": "ann@example.org",
        "phone": None,
        "status": "active",
        "tags": [],
        **fields,
    }


def context_for(patient: dict[str, Any], actions: list[dict[str, Any]]) -> ClockedContext:
    """The context of a matched run of ``actions`` for ``patient``, as the executor builds it."""
    command: RunCommandDict = run_command(PRACTICE, patient, actions)
    patients = PatientCache(cast(Connection, None))
    patients.put(PRACTICE, patient)
    return ClockedContext(command, DeferredWrites(), patients)
