"""JSON value semantics shared by the operators: strict equality, numbers, membership.

JSON equality: numbers compare by value (``1 == 1.0``) but booleans are not numbers; strings,
numbers, booleans and null never equal one another; arrays and objects compare element-wise with
the same rules.  Recursion is bounded by the depth of the *expected* value, which validation caps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Final

from crmflow.validation import FieldError, Loc

MAX_VALUE_DEPTH: Final = 32
_SCALARS: Final = (str, int, float, bool, type(None))


def is_number(value: Any) -> bool:
    """int or float, but not bool (``True`` is not the number 1 in JSON)."""
    kind = type(value)
    return kind is int or kind is float


def json_equal(actual: Any, expected: Any) -> bool:
    kind = type(expected)
    if kind is str:
        return type(actual) is str and actual == expected
    if kind is bool or expected is None:
        return actual is expected
    if kind is int or kind is float:
        actual_kind = type(actual)
        return (actual_kind is int or actual_kind is float) and actual == expected
    if kind is list:
        return (
            type(actual) is list
            and len(actual) == len(expected)
            and all(json_equal(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if kind is dict:
        return (
            type(actual) is dict
            and actual.keys() == expected.keys()
            and all(json_equal(actual[k], v) for k, v in expected.items())
        )
    return False


def equals_predicate(expected: Any) -> Callable[[Any], bool]:
    """``actual -> json_equal(actual, expected)``, specialised on the expected value's type."""
    kind = type(expected)
    if kind is str:
        return lambda actual: actual == expected if type(actual) is str else False
    if kind is bool or expected is None:
        return lambda actual: actual is expected
    if kind is int or kind is float:

        def number_equals(actual: Any) -> bool:
            actual_kind = type(actual)
            return (actual_kind is int or actual_kind is float) and actual == expected

        return number_equals
    return lambda actual: json_equal(actual, expected)


def membership_predicate(options: list[Any]) -> Callable[[Any], bool]:
    """``actual -> any(json_equal(actual, o) for o in options)`` with hashed look-ups for scalars.

    Options are split by JSON type so that hashing cannot conflate ``True`` with ``1``.
    """
    strings = frozenset(o for o in options if type(o) is str)
    numbers = frozenset(o for o in options if is_number(o))
    booleans = frozenset(o for o in options if type(o) is bool)
    has_null = any(o is None for o in options)
    containers = [o for o in options if type(o) in (list, dict)]

    def member(actual: Any) -> bool:
        kind = type(actual)
        if kind is str:
            return actual in strings
        if kind is int or kind is float:
            return actual in numbers
        if kind is bool:
            return actual in booleans
        if actual is None:
            return has_null
        return any(json_equal(actual, o) for o in containers)

    if not numbers and not booleans and not has_null and not containers:
        return lambda actual: actual in strings if type(actual) is str else False
    return member


def json_value_errors(value: Any, loc: Loc) -> list[FieldError]:
    """Problems making ``value`` unusable as a JSON operand (checked iteratively, never recursing)."""
    errors: list[FieldError] = []
    stack: list[tuple[Any, Loc, int]] = [(value, loc, 0)]
    while stack:
        node, where, depth = stack.pop()
        if type(node) is float and not math.isfinite(node):
            errors.append(FieldError(where, "number must be finite", "finite_number"))
        elif isinstance(node, _SCALARS):
            continue
        elif depth >= MAX_VALUE_DEPTH:
            errors.append(FieldError(where, f"value nested deeper than {MAX_VALUE_DEPTH}", "too_deep"))
        elif type(node) is list:
            stack.extend((item, (*where, i), depth + 1) for i, item in enumerate(node))
        elif type(node) is dict:
            for key, item in node.items():
                if type(key) is not str:
                    errors.append(FieldError(where, "object keys must be strings", "value_error"))
                    break
                stack.append((item, (*where, key), depth + 1))
        else:
            errors.append(FieldError(where, "value must be JSON", "value_error"))
    return errors


_MAX_STR: Final = 120
_MAX_JSON: Final = 240


def summarise(value: Any) -> Any:
    """A compact, JSON-serialisable stand-in for ``value`` in traces (long values are shortened)."""
    kind = type(value)
    if value is None or kind is bool:
        return value
    if kind is int:
        return value if value.bit_length() <= 64 else f"<integer of {value.bit_length()} bits>"
    if kind is float:
        return value if math.isfinite(value) else repr(value)
    if kind is str:
        return value if len(value) <= _MAX_STR else value[:_MAX_STR] + "…"
    if kind is list or kind is dict:
        try:
            text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            text = None
        if text is not None and len(text) <= _MAX_JSON:
            return value
        return f"<array of {len(value)} items>" if kind is list else f"<object with {len(value)} keys>"
    return f"<{kind.__name__}>"
