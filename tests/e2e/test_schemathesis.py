"""Property-based contract test: schemathesis drives every operation of the live OpenAPI spec with
a valid key, with schema-valid and schema-invalid data. Expected: 0 responses >= 500, 0 responses
outside the documented schemas/statuses, and invalid data always refused with a 4xx.

Uses schemathesis' Python API (one hypothesis run per operation) rather than its pytest plugin,
which does not work with the pytest pinned here.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from crmflow.apikeys import create_key, create_practice

pytestmark = pytest.mark.e2e

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
MAX_EXAMPLES = 25  # per operation and mode (schema-valid, then schema-invalid data)
MAX_WAIT = 2.0  # the Test routes wait for the real pipeline: keep generated waits short


def oversized(body: object, limit: int) -> bool:
    """A body over the API's size limit, which refuses it (413) before reading it."""
    try:
        return len(json.dumps(body).encode()) > limit
    except (TypeError, ValueError):
        return False


def fuzz(
    operation, mode: GenerationMode, headers: dict[str, str], failures: list[str], max_body: int = 256 * 1024
) -> int:
    """Run one operation in one generation mode; returns the number of cases sent."""
    checks = CHECKS + ([negative_data_rejection] if mode.is_negative else [])
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        nonlocal sent
        if isinstance(case.body, dict) and case.path.endswith("/test"):
            wait = case.body.get("waitSeconds")
            case.body["waitSeconds"] = min(wait, MAX_WAIT) if isinstance(wait, int | float) else MAX_WAIT
        if mode.is_negative and oversized(case.body, max_body):
            return  # refused whole with 413 (body_limit), which negative_data_rejection does not list
        sent += 1
        try:
            case.call_and_validate(headers=headers, checks=checks, timeout=30)
        except FailureGroup as exc:
            failures.append(f"{mode} {operation.label}: {str(exc)[:600]}")

    try:
        run()
    except Unsatisfiable:
        assert mode.is_negative, operation.label  # nothing to make invalid (no parameters, no body)
    return sent


def test_every_operation_conforms(services, engine, settings):
    with engine.begin() as conn:
        key = create_key(conn, create_practice(conn, "Schemathesis practice"), settings.api_key_secret)
    headers = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.openapi.from_url(f"{services['api'].url}/openapi.json")
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the schema describes an operation it cannot load"
    failures: list[str] = []
    cases = {
        (op.label, mode): fuzz(op, mode, headers, failures, settings.max_body_bytes)
        for op in operations
        for mode in GenerationMode
    }
    total = sum(cases.values())
    print(
        f"\nschemathesis: {total} cases over {len(operations)} operations (positive and negative), "
        f"{len(failures)} failures"
    )
    assert len(operations) >= 20
    assert all(cases[(op.label, GenerationMode.POSITIVE)] > 0 for op in operations)
    summary = "\n".join(f.split("\n", 1)[0] for f in failures)
    assert not failures, summary + "\n\n" + "\n\n".join(failures[:5])
