"""Translate conditions into zen-engine and rule-engine expressions, as faithfully as each allows.

One translator walks the condition; an engine is a :class:`Dialect`, the leaf templates that
differ between engines (``{x}`` the field, ``{v}`` the operand as a JSON literal, ``{sign}`` ``>``
or ``<``, ``{prefix_re}`` the operand as an anchored regex literal).

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
from dataclasses import dataclass
from typing import Any, Final

_SHARED: Final = {
    "equals": "({x} == {v})",
    "not_equals": "({x} != {v})",
    "exists": "({x} != null)",
    "in": "({x} in {v})",
}
_SIGNS: Final = {"greater_than": ">", "less_than": "<"}


@dataclass(frozen=True)
class Dialect:
    contains: str
    number_order: str  # greater_than / less_than against a number
    date_order: str  # ... against a date-time string
    starts_with: str


ZEN: Final = Dialect(
    contains=(
        '((type({x}) == "string" and contains({x}, {v})) or (type({x}) == "array" and some({x}, # == {v})))'
    ),
    number_order='(type({x}) == "number" and {x} {sign} {v})',
    date_order='(type({x}) == "string" and d({x}) {sign} d({v}))',
    starts_with='(type({x}) == "string" and startsWith({x}, {v}))',
)
RULE_ENGINE: Final = Dialect(
    contains="({x} != null and {v} in {x})",
    number_order="({x} != null and {x} {sign} {v})",
    date_order="({x} != null and $parse_datetime({x}) {sign} $parse_datetime({v}))",
    starts_with="({x} != null and {x} =~ {prefix_re})",
)


def translate(condition: dict[str, Any] | None, dialect: Dialect) -> str:
    """``condition`` as one expression in ``dialect``; ValueError for an operator it lacks."""
    if condition is None:
        return "true"
    op = condition["operator"]
    if op in ("and", "or"):
        parts = [translate(c, dialect) for c in condition["conditions"]]
        return "(" + f" {op} ".join(parts) + ")" if parts else ("true" if op == "and" else "false")
    v: Any = condition.get("value")
    fields = {"x": condition["field"], "v": json.dumps(v)}
    if op in _SHARED:
        template = _SHARED[op]
    elif op == "contains":
        template = dialect.contains
    elif op in _SIGNS:
        template = dialect.date_order if isinstance(v, str) else dialect.number_order
        fields["sign"] = _SIGNS[op]
    elif op == "starts_with":
        template = dialect.starts_with
        fields["prefix_re"] = json.dumps("^" + re.escape(v))
    else:
        raise ValueError(op)
    return template.format(**fields)


def to_zen(condition: dict[str, Any] | None) -> str:
    return translate(condition, ZEN)


def to_rule_engine(condition: dict[str, Any] | None) -> str:
    return translate(condition, RULE_ENGINE)
