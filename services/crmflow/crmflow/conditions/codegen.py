"""Fuse a compiled condition tree into ONE generated Python function, for speed.

The closure tree of :mod:`crmflow.conditions.compiler` costs two or three calls per leaf; here the
common leaves become inline expressions of a single function (``patient.status == "x"`` becomes
``r0.get(k1, MISSING) == c2``), with each top-level object of the event looked up once.  Anything
less common calls the leaf's closure, so semantics are those of :mod:`operators` by construction,
and ``explain`` (which walks the closures) is property-tested to agree with ``evaluate``.

Safety: the source contains only generated identifiers and operators; every key and operand is
passed in the namespace, never spliced into the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from crmflow.conditions.jsonvalues import is_number
from crmflow.conditions.nodes import Group, Leaf, Node
from crmflow.conditions.operators import LeafFn
from crmflow.conditions.paths import MISSING, is_index, make_getter, split_path
from crmflow.conditions.timeparse import parse_datetime

MAX_GENERATED_LEAVES: Final = 2_000  # beyond this, compiling the source costs more than it saves
_ORDER: Final = {
    "greater_than": ">",
    "less_than": "<",
    "greater_than_or_equal": ">=",
    "less_than_or_equal": "<=",
}
_EMPTY: Final[dict[str, Any]] = {}


@dataclass
class _Source:
    namespace: dict[str, Any] = field(
        default_factory=lambda: {"M": MISSING, "E": _EMPTY, "pdt": parse_datetime}
    )
    roots: dict[str, str] = field(default_factory=dict)  # first path segment -> local variable
    leaves: int = 0

    def const(self, value: Any) -> str:
        name = f"c{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def value_of(self, path: str) -> str | None:
        """An expression for the field's value, or None if the leaf should call its closure."""
        segments = split_path(path)
        if any(is_index(s) for s in segments):
            return f"{self.const(make_getter(segments))}(d)"
        if len(segments) == 1:
            return f"o.get({self.const(segments[0])}, M)"
        if len(segments) == 2:
            root = self.roots.setdefault(segments[0], f"r{len(self.roots)}")
            return f"{root}.get({self.const(segments[1])}, M)"
        return f"{self.const(make_getter(segments))}(d)"


def generate(root: Node) -> LeafFn | None:
    """One function equivalent to ``root``'s closure, or None if the tree is too large to bother."""
    source = _Source()
    body = _expr(root, source)
    if source.leaves > MAX_GENERATED_LEAVES:
        return None
    lines = ["def condition(d, now):", "    o = d if type(d) is dict else E"]
    for segment, local in source.roots.items():
        key = source.const(segment)
        lines.append(f"    {local} = o.get({key}, E)")
        lines.append(f"    {local} = {local} if type({local}) is dict else E")
    lines.append(f"    return {body}")  # every part is already a bool
    namespace = source.namespace
    exec(compile("\n".join(lines), "<crmflow condition>", "exec"), namespace)  # safe: see module doc
    fn: LeafFn = namespace["condition"]
    return fn


def _expr(node: Node, src: _Source) -> str:
    if isinstance(node, Group):
        parts = [_expr(child, src) for child in node.children]
        if node.operator == "not":
            return f"(not {parts[0]})"
        if not parts:
            return "True" if node.operator == "and" else "False"
        return "(" + f" {node.operator} ".join(parts) + ")"
    src.leaves += 1
    return _leaf(node, src) or f"{src.const(node.fn)}(d, now)"


def _leaf(leaf: Leaf, src: _Source) -> str | None:
    op, value = leaf.operator, leaf.value
    if op in ("equals", "not_equals"):
        test = _equals(leaf.field, value, src)
        if test is None:
            return None
        return test if op == "equals" else f"(not {test})"
    if op in ("exists", "not_exists"):
        a = src.value_of(leaf.field)
        return (
            f"((_t := {a}) is not None and _t is not M)"
            if op == "exists"
            else f"((_t := {a}) is None or _t is M)"
        )
    if op == "contains" and type(value) is str:
        a = src.value_of(leaf.field)
        return f"((type(_t := {a}) is str or type(_t) is list) and {src.const(value)} in _t)"
    if op in _ORDER:
        a, sign = src.value_of(leaf.field), _ORDER[op]
        if is_number(value):
            return f"((type(_t := {a}) is int or type(_t) is float) and _t {sign} {src.const(value)})"
        moment = parse_datetime(value)
        return None if moment is None else f"((_t := pdt({a})) is not None and _t {sign} {src.const(moment)})"
    if op in ("in", "not_in") and type(value) is list and all(type(v) is str for v in value):
        a = src.value_of(leaf.field)
        test = f"(type(_t := {a}) is str and _t in {src.const(frozenset(value))})"
        return test if op == "in" else f"(not {test})"
    if op in ("starts_with", "ends_with"):
        a, method = src.value_of(leaf.field), "startswith" if op == "starts_with" else "endswith"
        return f"(type(_t := {a}) is str and _t.{method}({src.const(value)}))"
    return None


def _equals(path: str, value: Any, src: _Source) -> str | None:
    kind = type(value)
    if kind is str:
        return f"({src.value_of(path)} == {src.const(value)})"  # only a str equals a str
    if kind is bool or value is None:
        return f"({src.value_of(path)} is {src.const(value)})"
    if kind is int or kind is float:
        a = src.value_of(path)
        return f"((type(_t := {a}) is int or type(_t) is float) and _t == {src.const(value)})"
    return None
