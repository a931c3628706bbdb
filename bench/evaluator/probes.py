"""Edge cases where the engines' semantics differ (the random workload rarely hits them).

Each probe is one leaf and one event; the report lists, per engine, the probes on which it
disagrees with crmflow (SPEC section 5 semantics) and what it answered.
"""

from __future__ import annotations

from typing import Any

from bench.evaluator.engines import COMPILERS, Compiler
from crmflow.conditions import evaluate

Probe = tuple[str, dict[str, Any], dict[str, Any]]


def _leaf(operator: str, value: Any = None) -> dict[str, Any]:
    node: dict[str, Any] = {"field": "p.x", "operator": operator}
    if operator != "exists":
        node["value"] = value
    return node


PROBES: list[Probe] = [
    ("equals null on a missing field", _leaf("equals", None), {"p": {}}),
    ("equals 1 on true (no bool/number coercion)", _leaf("equals", 1), {"p": {"x": True}}),
    ('equals 1 on "1" (no string/number coercion)', _leaf("equals", 1), {"p": {"x": "1"}}),
    ("equals 1 on 1.0", _leaf("equals", 1), {"p": {"x": 1.0}}),
    ("equals an array", _leaf("equals", [1, 2]), {"p": {"x": [1, 2]}}),
    ("equals an object", _leaf("equals", {"a": 1}), {"p": {"x": {"a": 1}}}),
    ("equals 2**53+1 on float 2**53", _leaf("equals", 2**53 + 1), {"p": {"x": float(2**53)}}),
    ("in [1] on true", _leaf("in", [1]), {"p": {"x": True}}),
    ('contains "1" in [1]', _leaf("contains", "1"), {"p": {"x": [1]}}),
    ("greater_than 5 on string 10", _leaf("greater_than", 5), {"p": {"x": "10"}}),
    ("greater_than 0 on true", _leaf("greater_than", 0), {"p": {"x": True}}),
    ("greater_than 1.5 on 10**30", _leaf("greater_than", 1.5), {"p": {"x": 10**30}}),
    (
        "greater_than on a naive date-time (UTC)",
        _leaf("greater_than", "2025-03-01T09:00:00Z"),
        {"p": {"x": "2025-03-01T09:30:00"}},
    ),
    (
        "greater_than across offsets",
        _leaf("greater_than", "2025-03-01T09:00:00Z"),
        {"p": {"x": "2025-03-01T10:30:00+02:00"}},
    ),
    (
        "less_than on a date (midnight)",
        _leaf("less_than", "2025-03-01T00:00:01Z"),
        {"p": {"x": "2025-03-01"}},
    ),
    (
        "greater_than on an invalid date",
        _leaf("greater_than", "2025-03-01T09:00:00Z"),
        {"p": {"x": "2025-13-01T00:00:00Z"}},
    ),
    ("greater_than on null", _leaf("greater_than", 1), {"p": {"x": None}}),
    ("exists on empty string", _leaf("exists"), {"p": {"x": ""}}),
    ("not_equals on a missing field", _leaf("not_equals", "a"), {"p": {}}),
    ("starts_with is case-sensitive", _leaf("starts_with", "Dr"), {"p": {"x": "dr. Who"}}),
]


def _outcome(compile_for: Compiler, condition: Any, data: Any) -> Any:
    try:
        return bool(compile_for(condition)(data))
    except Exception as exc:  # an engine's error is an outcome worth reporting
        return f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:70]}"


def run() -> dict[str, list[dict[str, Any]]]:
    """For each engine, the probes where its translation disagrees with crmflow."""
    report: dict[str, list[dict[str, Any]]] = {name: [] for name in COMPILERS}
    for label, condition, data in PROBES:
        ours = evaluate(condition, data)
        for name, compile_for in COMPILERS.items():
            theirs = _outcome(compile_for, condition, data)
            if theirs != ours:
                report[name].append({"probe": label, "crmflow": ours, name: theirs})
    return report
