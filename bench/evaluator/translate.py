"""Translate conditions into zen-engine and rule-engine expressions, as faithfully as each allows.

zen-engine (ZEN expression language): comparing null or mixed types with ``>`` is a runtime
error, and ``contains`` fails on non-strings, so leaves carry ``type(x) == ...`` guards; ``and``
and ``or`` short-circuit, so the guard protects the comparison.

rule-engine: attribute access on a missing key gives null with ``Context(default_value=None)``;
``>`` between null and a number raises, so comparisons are guarded with ``!= null``.  Strings are
parsed with ``$parse_datetime``, which raises on a non-date: the caller maps errors to False.
"""

from __future__ import annotations

import json
import re
from typing import Any


def _lit(value: Any) -> str:
    return json.dumps(value)


def to_zen(condition: dict[str, Any] | None) -> str:
    if condition is None:
        return "true"
    op = condition["operator"]
    if op in ("and", "or"):
        parts = [to_zen(c) for c in condition["conditions"]]
        return "(" + f" {op} ".join(parts) + ")" if parts else ("true" if op == "and" else "false")
    x: str = condition["field"]
    v: Any = condition.get("value")
    if op == "equals":
        return f"({x} == {_lit(v)})"
    if op == "not_equals":
        return f"({x} != {_lit(v)})"
    if op == "exists":
        return f"({x} != null)"
    if op == "contains":
        return (
            f'((type({x}) == "string" and contains({x}, {_lit(v)})) '
            f'or (type({x}) == "array" and some({x}, # == {_lit(v)})))'
        )
    if op in ("greater_than", "less_than"):
        sign = ">" if op == "greater_than" else "<"
        if isinstance(v, str):
            return f'(type({x}) == "string" and d({x}) {sign} d({_lit(v)}))'
        return f'(type({x}) == "number" and {x} {sign} {_lit(v)})'
    if op == "in":
        return f"({x} in {_lit(v)})"
    if op == "starts_with":
        return f'(type({x}) == "string" and startsWith({x}, {_lit(v)}))'
    raise ValueError(op)


def to_rule_engine(condition: dict[str, Any] | None) -> str:
    if condition is None:
        return "true"
    op = condition["operator"]
    if op in ("and", "or"):
        parts = [to_rule_engine(c) for c in condition["conditions"]]
        return "(" + f" {op} ".join(parts) + ")" if parts else ("true" if op == "and" else "false")
    x: str = condition["field"]
    v: Any = condition.get("value")
    if op == "equals":
        return f"({x} == {_lit(v)})"
    if op == "not_equals":
        return f"({x} != {_lit(v)})"
    if op == "exists":
        return f"({x} != null)"
    if op == "contains":
        return f"({x} != null and {_lit(v)} in {x})"
    if op in ("greater_than", "less_than"):
        sign = ">" if op == "greater_than" else "<"
        if isinstance(v, str):
            return f"({x} != null and $parse_datetime({x}) {sign} $parse_datetime({_lit(v)}))"
        return f"({x} != null and {x} {sign} {_lit(v)})"
    if op == "in":
        return f"({x} in {_lit(v)})"
    if op == "starts_with":
        return f"({x} != null and {x} =~ {_lit('^' + re.escape(v))})"
    raise ValueError(op)
