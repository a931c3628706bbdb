"""The compiled condition tree: leaves and groups, shared by the compiler (which builds them and
walks them for ``explain``) and codegen (which fuses them into one function)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any, Final

from crmflow.conditions.jsonvalues import summarise
from crmflow.conditions.operators import Built, LeafFn
from crmflow.conditions.paths import MISSING

GROUP_OPERATOR_NAMES: Final[tuple[str, ...]] = ("and", "or", "not")
"""The group operators, in the order the catalog and the JSON Schemas list them."""
GROUP_OPERATORS: Final = frozenset(GROUP_OPERATOR_NAMES)


@dataclass(frozen=True)
class Leaf:
    field: str
    operator: str
    value: Any
    shows_value: bool
    built: Built
    head: dict[str, Any] = dataclass_field(compare=False, init=False)  # constant part of the trace

    def __post_init__(self) -> None:
        head: dict[str, Any] = {"field": self.field, "operator": self.operator}
        if self.shows_value:
            head["value"] = summarise(self.value)
        object.__setattr__(self, "head", head)

    @property
    def fn(self) -> LeafFn:
        return self.built.fn

    @property
    def uses_now(self) -> bool:
        return self.built.uses_now

    def explain(self, data: Any, now: datetime | None) -> tuple[bool, dict[str, Any]]:
        passed = self.fn(data, now)
        trace = self.head.copy()
        if isinstance(trace.get("value"), list | dict):  # callers own their trace: no shared parts
            trace["value"] = copy.deepcopy(trace["value"])
        actual = self.built.actual(data)
        if actual is MISSING:
            trace["actual"], trace["missing"] = "missing", True
        else:
            trace["actual"] = summarise(actual)
        if self.built.uses_now:
            trace["now"] = now.isoformat() if now is not None else None
        trace["passed"] = passed
        return passed, trace


@dataclass(frozen=True)
class Group:
    operator: str  # one of GROUP_OPERATOR_NAMES
    children: tuple[Node, ...]
    fn: LeafFn = dataclass_field(compare=False)

    @property
    def uses_now(self) -> bool:
        return any(child.uses_now for child in self.children)

    def explain(self, data: Any, now: datetime | None) -> tuple[bool, dict[str, Any]]:
        # Every child is explained (no short-circuit) so a dry-run shows each failing condition;
        # the group's result is combined from theirs exactly as its closure combines them.
        results = [child.explain(data, now) for child in self.children]
        if self.operator == "and":
            passed = all(r for r, _ in results)
        elif self.operator == "or":
            passed = any(r for r, _ in results)
        else:
            passed = not results[0][0]
        return passed, {"operator": self.operator, "passed": passed, "conditions": [t for _, t in results]}


Node = Leaf | Group
