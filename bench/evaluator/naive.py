"""The seed's approach: re-interpret the condition dict for every event.

Same semantics as crmflow.conditions for the operators of the workload, but per event it walks
the condition, splits the field path and dispatches on the operator name, as the original
TypeScript evaluator did.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _get(data: Any, path: str) -> tuple[bool, Any]:
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _json_equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _date(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        d = datetime.fromisoformat(v)
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _compare(actual: Any, expected: Any, op: str) -> bool:
    if _is_number(actual) and _is_number(expected):
        return actual > expected if op == "greater_than" else actual < expected
    a, b = _date(actual), _date(expected)
    if a is None or b is None:
        return False
    return a > b if op == "greater_than" else a < b


def evaluate(condition: dict[str, Any] | None, data: Any) -> bool:
    if condition is None:
        return True
    op = condition["operator"]
    if op == "and":
        return all(evaluate(c, data) for c in condition["conditions"])
    if op == "or":
        return any(evaluate(c, data) for c in condition["conditions"])
    found, actual = _get(data, condition["field"])
    value: Any = condition.get("value")
    if op == "equals":
        return found and _json_equal(actual, value)
    if op == "not_equals":
        return not (found and _json_equal(actual, value))
    if op == "exists":
        return found and actual is not None
    if op == "contains":
        if isinstance(actual, str) and isinstance(value, str):
            return value in actual
        return isinstance(actual, list) and any(_json_equal(x, value) for x in actual)
    if op in ("greater_than", "less_than"):
        return found and _compare(actual, value, op)
    if op == "in":
        return found and any(_json_equal(actual, v) for v in value)
    if op == "starts_with":
        return isinstance(actual, str) and actual.startswith(value)
    raise ValueError(f"operator {op!r} is not part of the benchmark")
