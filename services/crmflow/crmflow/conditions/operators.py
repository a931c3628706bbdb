"""Leaf operators: each validates its operand once and returns a closure ``(data, now) -> bool``.

Closures only look up the field and compare; anything that cannot be compared yields ``False``
(never an exception).  The hottest cases fuse the look-up and the comparison into one function.
``exists``, ``not_exists`` and ``changed`` take no operand: a ``value`` sent with them (form
builders often send ``""`` or null) is ignored rather than refused.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from crmflow.conditions.jsonvalues import equals_predicate, is_number, json_value_errors, membership_predicate
from crmflow.conditions.paths import MISSING, Getter, make_getter
from crmflow.conditions.regexsafe import UnsafePattern, compile_safe_regex
from crmflow.conditions.timeparse import parse_datetime, parse_duration, utc_now
from crmflow.validation import FieldError

LeafFn = Callable[[Any, datetime | None], bool]
_ZERO: Final = timedelta(0)


class OperandError(Exception):
    """The operand of a leaf is unusable; ``errors`` are relative to the leaf."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors)
        self.errors = errors


def _operand_error(msg: str, type_: str = "value_error") -> OperandError:
    return OperandError([FieldError(("value",), msg, type_)])


@dataclass(frozen=True)
class Built:
    """A compiled leaf: the predicate, and what the trace shows as the field's actual value."""

    fn: LeafFn
    actual: Getter
    uses_now: bool = False


@dataclass(frozen=True)
class Operator:
    name: str
    needs_value: bool
    build: Callable[[tuple[str, ...], Any], Built]


def _json_operand(value: Any) -> None:
    errors = json_value_errors(value, ("value",))
    if errors:
        raise OperandError(errors)


def _negated(build: Callable[[tuple[str, ...], Any], Built]) -> Callable[[tuple[str, ...], Any], Built]:
    """The operator true exactly where ``build``'s is false: same operand checks, same trace."""

    def negated(path: tuple[str, ...], value: Any) -> Built:
        built = build(path, value)
        fn = built.fn
        return Built(lambda d, now: not fn(d, now), built.actual, built.uses_now)

    return negated


# --- equality and membership -------------------------------------------------------------------


def _equals(path: tuple[str, ...], value: Any) -> Built:
    _json_operand(value)
    get = make_getter(path)
    kind = type(value)
    if kind is str:
        return Built(lambda d, now: get(d) == value, get)  # only a str can equal a str
    if kind is bool or value is None:
        return Built(lambda d, now: get(d) is value, get)
    pred = equals_predicate(value)
    return Built(lambda d, now: pred(get(d)), get)


def _contains(path: tuple[str, ...], value: Any) -> Built:
    _json_operand(value)
    get = make_getter(path)
    if type(value) is str:

        def contains_str(d: Any, now: datetime | None) -> bool:
            actual = get(d)
            kind = type(actual)
            # substring of a string; for a list, ``in`` is exact here since only a str equals a str
            return value in actual if kind is str or kind is list else False

        return Built(contains_str, get)
    pred = equals_predicate(value)

    def contains_item(d: Any, now: datetime | None) -> bool:
        actual = get(d)
        return type(actual) is list and any(pred(item) for item in actual)

    return Built(contains_item, get)


def _options(value: Any) -> list[Any]:
    if type(value) is not list:
        raise _operand_error("value must be an array", "list_type")
    _json_operand(value)
    return value


def _in(path: tuple[str, ...], value: Any) -> Built:
    member = membership_predicate(_options(value))
    get = make_getter(path)
    return Built(lambda d, now: member(get(d)), get)


# --- presence ------------------------------------------------------------------------------------


def _exists(path: tuple[str, ...], value: Any) -> Built:
    get = make_getter(path)

    def exists(d: Any, now: datetime | None) -> bool:
        actual = get(d)
        return actual is not None and actual is not MISSING

    return Built(exists, get)


# --- strings -------------------------------------------------------------------------------------


def _string_operand(value: Any) -> str:
    if type(value) is not str:
        raise _operand_error("value must be a string", "string_type")
    return value


def _affix(test: Callable[[str, str], bool]) -> Callable[[tuple[str, ...], Any], Built]:
    """Build ``starts_with`` (``str.startswith``) or ``ends_with``: true only for a string field."""

    def build(path: tuple[str, ...], value: Any) -> Built:
        affix, get = _string_operand(value), make_getter(path)

        def has_affix(d: Any, now: datetime | None) -> bool:
            actual = get(d)
            return type(actual) is str and test(actual, affix)

        return Built(has_affix, get)

    return build


def _matches(path: tuple[str, ...], value: Any) -> Built:
    try:
        pred = compile_safe_regex(_string_operand(value)).predicate()
    except UnsafePattern as exc:
        raise _operand_error(str(exc), "regex") from None
    get = make_getter(path)
    return Built(lambda d, now: pred(get(d)), get)


# --- ordering ------------------------------------------------------------------------------------

_ORDER_HELP: Final = "value must be a number or an ISO-8601 date-time string"


def _ordering(compare: Callable[[Any, Any], bool]) -> Callable[[tuple[str, ...], Any], Built]:
    """Build ``>``-like operators: numeric against a number, chronological against a date-time."""

    def build(path: tuple[str, ...], value: Any) -> Built:
        get = make_getter(path)
        if is_number(value):
            _json_operand(value)  # refuses NaN and infinities

            def numeric(d: Any, now: datetime | None) -> bool:
                actual = get(d)
                kind = type(actual)
                return (kind is int or kind is float) and compare(actual, value)

            return Built(numeric, get)
        moment = parse_datetime(value)
        if moment is None:
            raise _operand_error(_ORDER_HELP, "number_or_datetime")

        def chronological(d: Any, now: datetime | None) -> bool:
            actual = parse_datetime(get(d))
            return actual is not None and compare(actual, moment)

        return Built(chronological, get)

    return build


def _within(future: bool) -> Callable[[tuple[str, ...], Any], Built]:
    def build(path: tuple[str, ...], value: Any) -> Built:
        span = parse_duration(value)
        if isinstance(span, str):
            raise _operand_error(span, "duration")
        get = make_getter(path)

        def within(d: Any, now: datetime | None) -> bool:
            moment = parse_datetime(get(d))
            if moment is None:
                return False
            offset = moment - utc_now(now)  # a difference never overflows, unlike now + span
            return _ZERO <= offset <= span if future else -span <= offset <= _ZERO

        return Built(within, get, uses_now=True)

    return build


# --- changes of *.updated events -----------------------------------------------------------------


def change_key(path: tuple[str, ...]) -> str:
    """The ``changes`` key a changed* leaf tests: ``status``, ``patient.status``, ``changes.status``
    all mean ``status`` (an entity prefix is accepted for readability and not checked)."""
    return path[1] if len(path) > 1 and path[0] == "changes" else path[-1]


def _change_entry(key: str) -> Getter:
    def entry(d: Any) -> Any:
        changes = d.get("changes") if type(d) is dict else None
        return changes.get(key, MISSING) if type(changes) is dict else MISSING

    return entry


def _changed(path: tuple[str, ...], value: Any) -> Built:
    entry = _change_entry(change_key(path))
    return Built(lambda d, now: entry(d) is not MISSING, entry)


def _changed_side(side: str) -> Callable[[tuple[str, ...], Any], Built]:
    def build(path: tuple[str, ...], value: Any) -> Built:
        _json_operand(value)
        entry, pred = _change_entry(change_key(path)), equals_predicate(value)

        def side_value(d: Any) -> Any:
            found = entry(d)
            return found.get(side, MISSING) if type(found) is dict else MISSING

        return Built(lambda d, now: pred(side_value(d)), side_value)

    return build


_TABLE: Final[tuple[Operator, ...]] = (
    Operator("equals", True, _equals),
    Operator("not_equals", True, _negated(_equals)),
    Operator("contains", True, _contains),
    Operator("exists", False, _exists),
    Operator("not_exists", False, _negated(_exists)),
    Operator("greater_than", True, _ordering(operator.gt)),
    Operator("less_than", True, _ordering(operator.lt)),
    Operator("greater_than_or_equal", True, _ordering(operator.ge)),
    Operator("less_than_or_equal", True, _ordering(operator.le)),
    Operator("in", True, _in),
    Operator("not_in", True, _negated(_in)),
    Operator("starts_with", True, _affix(str.startswith)),
    Operator("ends_with", True, _affix(str.endswith)),
    Operator("matches", True, _matches),
    Operator("changed", False, _changed),
    Operator("changed_to", True, _changed_side("to")),
    Operator("changed_from", True, _changed_side("from")),
    Operator("within_next", True, _within(future=True)),
    Operator("within_last", True, _within(future=False)),
)

LEAF_OPERATORS: Final[Mapping[str, Operator]] = {op.name: op for op in _TABLE}
