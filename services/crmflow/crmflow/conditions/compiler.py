"""Compile a condition tree once (per rule version) into nested closures.

Per event, evaluation is then only field look-ups and comparisons: no dict walking of the
condition, no operator dispatch, no operand parsing.  ``explain`` walks a parallel node tree that
reuses the same leaf closures, so a trace can never disagree with ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from crmflow.conditions.codegen import generate
from crmflow.conditions.nodes import GROUP_OPERATORS, Group, Leaf, Node
from crmflow.conditions.operators import LEAF_OPERATORS, LeafFn, OperandError
from crmflow.conditions.paths import MISSING, path_error, split_path
from crmflow.conditions.timeparse import utc_now
from crmflow.validation import DomainValidationError, FieldError, Loc

MAX_DEPTH: Final = 32
"""Most groups that may enclose one another (a bare leaf has depth 0, ``and`` of leaves 1)."""

OPERATORS: Final = frozenset(LEAF_OPERATORS)

_LEAF_KEYS: Final = frozenset({"field", "operator", "value"})
_GROUP_KEYS: Final = frozenset({"operator", "conditions"})
_NOT_KEYS: Final = frozenset({"operator", "conditions", "condition"})


def _always(data: Any, now: datetime | None) -> bool:
    return True


def _never(data: Any, now: datetime | None) -> bool:
    return False


@dataclass(frozen=True)
class Explanation:
    """Whether the condition matched, and a JSON-serialisable trace (None: no condition).

    A leaf's trace is ``{"field", "operator", "value"?, "actual", "passed"}`` (``"value"`` only for
    operators that take one; ``"now"`` too for ``within_*``); a missing field shows
    ``"actual": "missing", "missing": true`` so it is not confused with null.  Long strings and
    large arrays/objects are shortened.  A group's trace is ``{"operator", "passed", "conditions"}``
    with every child explained, even after the result is known.
    """

    matched: bool
    trace: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"matched": self.matched, "trace": self.trace}


Codegen = Literal["lazy", "eager", "off"]
HOT_AFTER: Final = 8
"""Evaluations after which a condition (with codegen="lazy") is turned into generated code."""


class CompiledCondition:
    """A validated condition ready to run against many events; immutable in behaviour.

    Evaluation starts on the closure tree and, once the condition has proved hot (``HOT_AFTER``
    evaluations), switches to one generated function (:mod:`codegen`), so loading thousands of
    rules stays cheap while busy rules run at full speed.  ``codegen="eager"`` generates at once,
    ``"off"`` never.  The switch is a single attribute store: safe under threads.
    """

    __slots__ = ("_calls", "_closure", "_fn", "_root", "uses_now")

    def __init__(self, root: Node | None, codegen: Codegen = "lazy") -> None:
        self._root = root
        self._calls = 0
        self._closure: LeafFn = _always if root is None else root.fn
        self._fn: LeafFn = self._closure
        if root is not None and codegen == "eager":
            self._fn = generate(root) or self._closure
        elif root is not None and codegen == "lazy":
            self._fn = self._warm_up
        self.uses_now = root is not None and root.uses_now

    def _warm_up(self, data: Any, now: datetime | None) -> bool:
        self._calls += 1
        if self._calls >= HOT_AFTER and self._root is not None:
            self._fn = generate(self._root) or self._closure
        return self._closure(data, now)

    def evaluate(self, data: Any, *, now: datetime | None = None) -> bool:
        """True when ``data`` (an event's ``data``) satisfies the condition; never raises."""
        return self._fn(data, now)

    def explain(self, data: Any, *, now: datetime | None = None) -> Explanation:
        if self._root is None:
            return Explanation(True, None)
        if self.uses_now:
            now = utc_now(now)  # one instant for the whole trace, and shown in it
        passed, trace = self._root.explain(data, now)
        return Explanation(passed, trace)

    def __repr__(self) -> str:
        return f"<CompiledCondition {'always' if self._root is None else self._root.operator}>"


def compile_condition(condition: Any, *, codegen: Codegen = "lazy") -> CompiledCondition:
    """Validate and compile ``condition``; None (or ``{}``) always matches.

    Raises DomainValidationError listing every problem, each with its path from the condition root.
    """
    if condition is None or (type(condition) is dict and not condition):
        return CompiledCondition(None, codegen)
    errors: list[FieldError] = []
    root = _compile(condition, (), 0, errors)
    if errors or root is None:
        raise DomainValidationError(errors or [FieldError((), "invalid condition", "value_error")])
    return CompiledCondition(root, codegen)


def validate_condition(condition: Any) -> list[FieldError]:
    """Every problem of ``condition`` (empty when it compiles)."""
    try:
        compile_condition(condition)
    except DomainValidationError as exc:
        return exc.errors
    return []


def _short(value: Any) -> str:
    text = (
        repr(value) if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
    )
    return text if len(text) <= 40 else text[:40] + "…"


def _compile(node: Any, loc: Loc, depth: int, errors: list[FieldError]) -> Node | None:
    if type(node) is not dict:
        errors.append(FieldError(loc, "condition must be an object", "dict_type"))
        return None
    operator = node.get("operator", MISSING)
    if operator is MISSING:
        kind = "group" if "conditions" in node else "leaf"
        errors.append(FieldError((*loc, "operator"), f"operator is required ({kind})", "missing"))
        return None
    if type(operator) is str and operator in GROUP_OPERATORS:
        return _compile_group(node, operator, loc, depth + 1, errors)
    if type(operator) is str and operator in OPERATORS:
        return _compile_leaf(node, operator, loc, errors)
    expected = ", ".join(sorted(OPERATORS | GROUP_OPERATORS))
    errors.append(
        FieldError(
            (*loc, "operator"),
            f"unknown operator {_short(operator)}; expected one of {expected}",
            "unknown_operator",
        )
    )
    return None


def _extra_keys(node: dict[str, Any], allowed: frozenset[str], loc: Loc, errors: list[FieldError]) -> None:
    for key in node:
        if key not in allowed:
            errors.append(FieldError((*loc, str(key)), "extra fields not permitted", "extra_forbidden"))


def _compile_leaf(node: dict[str, Any], operator: str, loc: Loc, errors: list[FieldError]) -> Leaf | None:
    spec = LEAF_OPERATORS[operator]
    before = len(errors)
    _extra_keys(node, _LEAF_KEYS, loc, errors)
    path = node.get("field", MISSING)
    problem = "field is required" if path is MISSING else path_error(path)
    if problem is not None:
        errors.append(FieldError((*loc, "field"), problem, "missing" if path is MISSING else "value_error"))
    if spec.needs_value and "value" not in node:
        errors.append(FieldError((*loc, "value"), f"value is required for operator {operator!r}", "missing"))
        return None
    try:  # the operand is checked even when the field is bad, so every error is reported at once
        built = spec.build(split_path(path) if problem is None else ("_",), node.get("value"))
    except OperandError as exc:
        errors.extend(e.with_prefix(*loc) for e in exc.errors)
        return None
    if len(errors) > before:
        return None
    return Leaf(path, operator, node.get("value"), spec.needs_value, built)


def _compile_group(
    node: dict[str, Any], operator: str, loc: Loc, depth: int, errors: list[FieldError]
) -> Group | None:
    if depth > MAX_DEPTH:
        errors.append(FieldError(loc, f"conditions nested deeper than {MAX_DEPTH} levels", "too_deep"))
        return None
    start = len(errors)
    _extra_keys(node, _NOT_KEYS if operator == "not" else _GROUP_KEYS, loc, errors)
    entries = _operands(node, operator, loc, errors)
    children: list[Node] = []
    for item, item_loc in entries:
        child = _compile(item, item_loc, depth, errors)
        if child is not None:
            children.append(child)
    if len(errors) > start:
        return None
    return Group(operator, tuple(children), _combine(operator, [c.fn for c in children]))


def _operands(
    node: dict[str, Any], operator: str, loc: Loc, errors: list[FieldError]
) -> list[tuple[Any, Loc]]:
    """The group's child conditions with their locations.

    ``not`` takes ``conditions: [one]`` or, as a convenience, ``condition: {...}``.
    """
    if operator == "not" and "condition" in node:
        if "conditions" in node:
            errors.append(
                FieldError(loc, "give 'not' either 'condition' or 'conditions', not both", "value_error")
            )
            return []
        return [(node["condition"], (*loc, "condition"))]
    items_loc = (*loc, "conditions")
    items = node.get("conditions", MISSING)
    if items is MISSING:
        errors.append(FieldError(items_loc, f"conditions are required for {operator!r}", "missing"))
    elif type(items) is not list:
        errors.append(FieldError(items_loc, "conditions must be an array", "list_type"))
    elif operator == "not" and len(items) != 1:
        errors.append(FieldError(items_loc, "'not' takes exactly one condition", "value_error"))
    else:
        return [(item, (*items_loc, i)) for i, item in enumerate(items)]
    return []


def _combine(operator: str, fns: Sequence[LeafFn]) -> LeafFn:
    """One closure for a group, unrolled for the common small sizes."""
    if operator == "not":
        (inner,) = fns

        def negation(d: Any, now: datetime | None) -> bool:
            return not inner(d, now)

        return negation
    if operator == "and":
        return _all_of(tuple(fns))
    return _any_of(tuple(fns))


def _all_of(fns: tuple[LeafFn, ...]) -> LeafFn:
    if not fns:
        return _always
    if len(fns) == 1:
        return fns[0]
    if len(fns) == 2:
        a, b = fns
        return lambda d, now: a(d, now) and b(d, now)
    if len(fns) == 3:
        a, b, c = fns
        return lambda d, now: a(d, now) and b(d, now) and c(d, now)

    def all_of(d: Any, now: datetime | None) -> bool:
        for fn in fns:  # noqa: SIM110 - a plain loop is faster than all() over a generator
            if not fn(d, now):
                return False
        return True

    return all_of


def _any_of(fns: tuple[LeafFn, ...]) -> LeafFn:
    if not fns:
        return _never
    if len(fns) == 1:
        return fns[0]
    if len(fns) == 2:
        a, b = fns
        return lambda d, now: a(d, now) or b(d, now)
    if len(fns) == 3:
        a, b, c = fns
        return lambda d, now: a(d, now) or b(d, now) or c(d, now)

    def any_of(d: Any, now: datetime | None) -> bool:
        for fn in fns:  # noqa: SIM110 - a plain loop is faster than any() over a generator
            if fn(d, now):
                return True
        return False

    return any_of
