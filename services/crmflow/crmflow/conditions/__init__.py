"""The condition language of automation rules (SPEC section 5).

Compile once per rule version with :func:`compile_condition`, then call ``evaluate`` per event::

    rule = compile_condition({"field": "appointment.status", "operator": "equals", "value": "scheduled"})
    rule.evaluate(event["data"])          # -> bool, never raises
    rule.explain(event["data"]).to_dict() # -> {"matched": bool, "trace": {...}} for dry-runs and runs

The module-level :func:`evaluate` and :func:`explain` compile on every call: for tests and one-offs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crmflow.conditions.compiler import (
    HOT_AFTER,
    MAX_DEPTH,
    OPERATORS,
    Codegen,
    CompiledCondition,
    Explanation,
    compile_condition,
    validate_condition,
)
from crmflow.conditions.nodes import GROUP_OPERATOR_NAMES, GROUP_OPERATORS
from crmflow.conditions.paths import MISSING

__all__ = [
    "GROUP_OPERATORS",
    "GROUP_OPERATOR_NAMES",
    "HOT_AFTER",
    "MAX_DEPTH",
    "MISSING",
    "OPERATORS",
    "Codegen",
    "CompiledCondition",
    "Explanation",
    "compile_condition",
    "evaluate",
    "explain",
    "validate_condition",
]


def evaluate(condition: Any, data: Any, *, now: datetime | None = None) -> bool:
    """Compile ``condition`` (raising DomainValidationError if invalid) and evaluate it on ``data``."""
    return compile_condition(condition).evaluate(data, now=now)


def explain(condition: Any, data: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """``{"matched": bool, "trace": ...}`` for ``condition`` on ``data`` (the dry-run response)."""
    return compile_condition(condition).explain(data, now=now).to_dict()
