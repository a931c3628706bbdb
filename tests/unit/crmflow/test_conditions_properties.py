"""Property tests of the condition language: negation, De Morgan, and never raising."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmflow.conditions import GROUP_OPERATORS, OPERATORS, compile_condition, evaluate, validate_condition
from crmflow.validation import DomainValidationError

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
KEYS = st.sampled_from(["a", "b", "c", "status", "0", "1", "changes", "from", "to", "x y"])

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "a", "abc", "2025-03-10T13:00:00Z", "2025-03-01", "1", "true", "ab@cd"])
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(KEYS | st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)
# Data may hold anything JSON (and Python's json module) can: NaN and infinities too.
wild_scalars = scalars | st.floats() | st.sampled_from([float("nan"), float("inf"), -float("inf")])
wild_values = st.recursive(
    wild_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(KEYS | st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=25,
)
data_objects = st.dictionaries(KEYS, wild_values, max_size=6) | wild_values

fields = st.lists(
    st.sampled_from(["a", "b", "c", "status", "0", "1", "changes", "to"]), min_size=1, max_size=3
).map(".".join)
durations = st.sampled_from(["24h", "30m", "7d", "90s", "PT24H", "P7D", 0, 3600, 1.5])
order_values = (
    st.integers(-100, 100) | st.floats(-1e6, 1e6) | st.sampled_from(["2025-03-10T12:00:00Z", "2025-01-01"])
)
regexes = st.sampled_from(["^a", "b$", "a.c", "(?i)AB", r"\d+", "^(x|y)$", "[a-c]{2,4}"])


def _leaf(operator: str, value: st.SearchStrategy[Any] | None) -> st.SearchStrategy[dict[str, Any]]:
    if value is None:
        return st.builds(lambda f: {"field": f, "operator": operator}, fields)
    return st.builds(lambda f, v: {"field": f, "operator": operator, "value": v}, fields, value)


OPERANDS: dict[str, st.SearchStrategy[Any] | None] = {  # leaf operator -> its operands (None: none)
    **dict.fromkeys(("equals", "not_equals", "contains", "changed_to", "changed_from"), json_values),
    **dict.fromkeys(("exists", "not_exists", "changed"), None),
    **dict.fromkeys(
        ("greater_than", "less_than", "greater_than_or_equal", "less_than_or_equal"), order_values
    ),
    **dict.fromkeys(("in", "not_in"), st.lists(json_values, max_size=5)),
    **dict.fromkeys(("starts_with", "ends_with"), st.text(max_size=3)),
    "matches": regexes,
    **dict.fromkeys(("within_next", "within_last"), durations),
}
leaves = st.one_of(*[_leaf(op, value) for op, value in OPERANDS.items()])


def _not(c: dict[str, Any]) -> dict[str, Any]:
    return {"operator": "not", "conditions": [c]}


def _groups(children: st.SearchStrategy[Any]) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    return {
        "and": st.builds(lambda cs: {"operator": "and", "conditions": cs}, st.lists(children, max_size=4)),
        "or": st.builds(lambda cs: {"operator": "or", "conditions": cs}, st.lists(children, max_size=4)),
        "not": st.builds(_not, children),
    }


conditions = st.recursive(leaves, lambda children: st.one_of(*_groups(children).values()), max_leaves=8)


def test_the_strategies_cover_every_operator() -> None:
    assert set(OPERANDS) == OPERATORS
    assert set(_groups(leaves)) == GROUP_OPERATORS


@given(field=fields, value=json_values, data=data_objects)
def test_not_equals_is_the_negation_of_equals(field: str, value: Any, data: Any) -> None:
    equals = evaluate({"field": field, "operator": "equals", "value": value}, data)
    assert evaluate({"field": field, "operator": "not_equals", "value": value}, data) is (not equals)


@given(field=fields, value=st.lists(json_values, max_size=5), data=data_objects)
def test_not_in_is_the_negation_of_in(field: str, value: Any, data: Any) -> None:
    member = evaluate({"field": field, "operator": "in", "value": value}, data)
    assert evaluate({"field": field, "operator": "not_in", "value": value}, data) is (not member)


@given(field=fields, value=json_values, data=data_objects)
def test_in_a_singleton_is_equals(field: str, value: Any, data: Any) -> None:
    assert evaluate({"field": field, "operator": "in", "value": [value]}, data) is evaluate(
        {"field": field, "operator": "equals", "value": value}, data
    )


@given(field=fields, data=data_objects)
def test_not_exists_is_the_negation_of_exists(field: str, data: Any) -> None:
    exists = evaluate({"field": field, "operator": "exists"}, data)
    assert evaluate({"field": field, "operator": "not_exists"}, data) is (not exists)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(a=conditions, b=conditions, data=data_objects)
def test_de_morgan(a: dict[str, Any], b: dict[str, Any], data: Any) -> None:
    def ev(c: dict[str, Any]) -> bool:
        return compile_condition(c, codegen="eager").evaluate(data, now=NOW)

    assert ev(_not({"operator": "and", "conditions": [a, b]})) is ev(
        {"operator": "or", "conditions": [_not(a), _not(b)]}
    )
    assert ev(_not({"operator": "or", "conditions": [a, b]})) is ev(
        {"operator": "and", "conditions": [_not(a), _not(b)]}
    )
    assert ev(_not(_not(a))) is ev(a)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(condition=conditions, data=data_objects)
def test_evaluate_never_raises_and_explain_agrees(condition: dict[str, Any], data: Any) -> None:
    compiled = compile_condition(condition, codegen="eager")
    matched = compiled.evaluate(data, now=NOW)
    assert isinstance(matched, bool)
    assert compile_condition(condition, codegen="off").evaluate(data, now=NOW) is matched
    explanation = compiled.explain(data, now=NOW)
    assert explanation.matched is matched
    json.dumps(explanation.trace, allow_nan=False)


@given(condition=conditions)
def test_generated_conditions_are_valid(condition: dict[str, Any]) -> None:
    assert validate_condition(condition) == []


condition_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.sampled_from(sorted(OPERATORS | GROUP_OPERATORS))
    | st.sampled_from(["a.b", "", ".", "a..b", "[", "(a+)+", "24h", "P1M"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["field", "operator", "value", "conditions", "condition", "extra"])
            | st.text(max_size=3),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@given(condition=condition_like)
def test_compile_only_ever_raises_domain_validation_error(condition: Any) -> None:
    try:
        compile_condition(condition)
    except DomainValidationError as exc:
        assert exc.errors
        for error in exc.errors:
            assert isinstance(error.msg, str) and error.type
            json.dumps(error.to_dict())
        assert validate_condition(condition) == exc.errors
    else:
        assert validate_condition(condition) == []


@given(value=wild_values)
def test_compile_of_any_json_value_as_a_condition(value: Any) -> None:
    with contextlib.suppress(DomainValidationError):
        compile_condition(value)
