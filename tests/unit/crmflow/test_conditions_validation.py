"""compile_condition refuses invalid conditions, listing every error with its path."""

from __future__ import annotations

import re
from typing import Any

import pytest

from crmflow.conditions import MAX_DEPTH, compile_condition, evaluate, validate_condition
from crmflow.conditions.regexsafe import MAX_SUBJECT, UnsafePattern, compile_safe_regex
from crmflow.validation import DomainValidationError, FieldError


def errors_of(condition: Any) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(DomainValidationError) as caught:
        compile_condition(condition)
    return [(e.loc, e.type) for e in caught.value.errors]


def nested(depth: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"field": "a", "operator": "exists"}
    for _ in range(depth):
        condition = {"operator": "and", "conditions": [condition]}
    return condition


def test_every_error_is_reported_with_its_path() -> None:
    condition = {
        "operator": "and",
        "conditions": [
            {"field": "a", "operator": "eq", "value": 1},
            {"field": "", "operator": "equals"},
            {"operator": "or", "conditions": "not a list"},
            {"field": "a", "operator": "matches", "value": "(a+)+"},
            {"operator": "or", "conditions": [{"field": "a", "operator": "within_next", "value": "2 days"}]},
            {"field": "a", "operator": "greater_than", "value": "abc", "extra": 1},
            {"operator": "not", "conditions": [{"field": "a"}, {"field": "b", "operator": "exists"}]},
            "not an object",
        ],
    }
    assert errors_of(condition) == [
        (("conditions", 0, "operator"), "unknown_operator"),
        (("conditions", 1, "field"), "value_error"),
        (("conditions", 1, "value"), "missing"),
        (("conditions", 2, "conditions"), "list_type"),
        (("conditions", 3, "value"), "regex"),
        (("conditions", 4, "conditions", 0, "value"), "duration"),
        (("conditions", 5, "extra"), "extra_forbidden"),
        (("conditions", 5, "value"), "number_or_datetime"),
        (("conditions", 6, "conditions"), "value_error"),
        (("conditions", 7), "dict_type"),
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("equals", [((), "dict_type")]),
        ([], [((), "dict_type")]),
        ({"field": "a", "value": 1}, [(("operator",), "missing")]),
        ({"conditions": []}, [(("operator",), "missing")]),
        ({"field": "a", "operator": "EQUALS", "value": 1}, [(("operator",), "unknown_operator")]),
        ({"field": "a", "operator": ["equals"], "value": 1}, [(("operator",), "unknown_operator")]),
        ({"operator": "equals", "value": 1}, [(("field",), "missing")]),
        ({"field": 3, "operator": "exists"}, [(("field",), "value_error")]),
        ({"field": "a..b", "operator": "exists"}, [(("field",), "value_error")]),
        ({"field": "a. b", "operator": "exists"}, [(("field",), "value_error")]),
        ({"field": "a" * 600, "operator": "exists"}, [(("field",), "value_error")]),
        ({"field": "a", "operator": "equals"}, [(("value",), "missing")]),
        ({"field": "a", "operator": "equals", "value": float("nan")}, [(("value",), "finite_number")]),
        (
            {"field": "a", "operator": "equals", "value": {"k": [float("inf")]}},
            [(("value", "k", 0), "finite_number")],
        ),
        ({"field": "a", "operator": "equals", "value": {1: "x"}}, [(("value",), "value_error")]),
        ({"field": "a", "operator": "equals", "value": object()}, [(("value",), "value_error")]),
        ({"field": "a", "operator": "in", "value": "x"}, [(("value",), "list_type")]),
        ({"field": "a", "operator": "not_in", "value": {"x": 1}}, [(("value",), "list_type")]),
        ({"field": "a", "operator": "starts_with", "value": 1}, [(("value",), "string_type")]),
        ({"field": "a", "operator": "ends_with", "value": None}, [(("value",), "string_type")]),
        ({"field": "a", "operator": "matches", "value": 1}, [(("value",), "string_type")]),
        ({"field": "a", "operator": "matches", "value": "("}, [(("value",), "regex")]),
        ({"field": "a", "operator": "greater_than", "value": True}, [(("value",), "number_or_datetime")]),
        ({"field": "a", "operator": "less_than", "value": None}, [(("value",), "number_or_datetime")]),
        (
            {"field": "a", "operator": "less_than_or_equal", "value": "yesterday"},
            [(("value",), "number_or_datetime")],
        ),
        ({"field": "a", "operator": "greater_than", "value": float("inf")}, [(("value",), "finite_number")]),
        ({"field": "a", "operator": "within_last", "value": "P1M"}, [(("value",), "duration")]),
        ({"field": "a", "operator": "within_last", "value": -5}, [(("value",), "duration")]),
        ({"field": "a", "operator": "within_next", "value": True}, [(("value",), "duration")]),
        ({"field": "a", "operator": "within_next", "value": "P999999D"}, [(("value",), "duration")]),
        ({"field": "a", "operator": "changed_to"}, [(("value",), "missing")]),
        ({"operator": "and"}, [(("conditions",), "missing")]),
        ({"operator": "or", "conditions": {"field": "a"}}, [(("conditions",), "list_type")]),
        ({"operator": "and", "conditions": [], "field": "a"}, [(("field",), "extra_forbidden")]),
        ({"operator": "not", "conditions": []}, [(("conditions",), "value_error")]),
        ({"operator": "not"}, [(("conditions",), "missing")]),
        (
            {"operator": "not", "condition": {"field": "a", "operator": "exists"}, "conditions": []},
            [((), "value_error")],
        ),
        (
            {"operator": "not", "condition": {"field": "a", "operator": "nope"}},
            [(("condition", "operator"), "unknown_operator")],
        ),
    ],
)
def test_invalid_conditions(condition: Any, expected: list[tuple[tuple[str | int, ...], str]]) -> None:
    assert errors_of(condition) == expected


@pytest.mark.parametrize(
    "condition",
    [
        None,
        {},
        {"field": "a", "operator": "exists", "value": "ignored"},
        {"field": "a", "operator": "changed", "value": None},
        {"field": "a", "operator": "equals", "value": None},
        {"field": "a", "operator": "equals", "value": 10**400},
        {"field": "patient.tags.0", "operator": "in", "value": []},
        {"field": "a", "operator": "greater_than", "value": "2025-03-10"},
        {"field": "a", "operator": "less_than", "value": "2025-03-10T10:00:00.123456+05:30"},
        {"field": "a", "operator": "within_next", "value": 0},
        {"field": "a", "operator": "matches", "value": ".*urgent.*"},
        {"operator": "not", "condition": {"field": "a", "operator": "exists"}},
    ],
)
def test_valid_conditions(condition: Any) -> None:
    assert validate_condition(condition) == []


def test_nesting_up_to_max_depth_is_accepted() -> None:
    assert MAX_DEPTH == 32
    assert evaluate(nested(MAX_DEPTH), {"a": 1}) is True


def test_nesting_deeper_than_max_depth_is_refused_at_the_too_deep_group() -> None:
    errors = errors_of(nested(MAX_DEPTH + 1))
    assert errors == [(("conditions", 0) * MAX_DEPTH, "too_deep")]


def test_absurdly_deep_input_is_refused_without_recursing() -> None:
    assert errors_of(nested(100_000))[0][1] == "too_deep"
    deep_value: Any = 1
    for _ in range(100_000):
        deep_value = [deep_value]
    assert errors_of({"field": "a", "operator": "equals", "value": deep_value}) == [
        (("value",) + (0,) * 32, "too_deep")
    ]


def test_domain_validation_error_detail_is_fastapi_shaped() -> None:
    with pytest.raises(DomainValidationError) as caught:
        compile_condition({"operator": "and", "conditions": [{"field": "a", "operator": "nope"}]})
    assert caught.value.detail("body", "conditionsJson") == [
        {
            "loc": ["body", "conditionsJson", "conditions", 0, "operator"],
            "msg": caught.value.errors[0].msg,
            "type": "unknown_operator",
        }
    ]
    assert "conditions.0.operator" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert FieldError(("a",), "m", "t").with_prefix("x", 1) == FieldError(("x", 1, "a"), "m", "t")


class TestSafeRegex:
    @pytest.mark.parametrize(
        "pattern",
        [
            "(a+)+b",  # exponential
            "(a*)*b",
            "(a|ab)*c",  # quantified alternation
            "(a|bc){2,}",
            r"(a)\1",  # backreference
            r"(?P<x>a)(?P=x)",
            "(?=a)a",  # look-arounds
            "(?<!a)b",
            "(?(1)a|b)",
            "a*a*a*a*x",  # high polynomial
            "x" * 257,
            "[",
        ],
    )
    def test_refused(self, pattern: str) -> None:
        with pytest.raises(UnsafePattern):
            compile_safe_regex(pattern)

    @pytest.mark.parametrize(
        ("pattern", "max_subject"),
        [
            ("urgent", MAX_SUBJECT),
            (".*urgent.*", MAX_SUBJECT),  # the dot-stars are dropped: same answer under search
            (r"^\+1\d{10}$", MAX_SUBJECT),
            ("^(new|returning)$", MAX_SUBJECT),
            ("^[a-z]+@[a-z]+\\.com$", 1414),
            ("[a-z]+@[a-z]+\\.com$", 125),
        ],
    )
    def test_accepted_with_a_safe_subject_length(self, pattern: str, max_subject: int) -> None:
        assert compile_safe_regex(pattern).max_subject == max_subject

    def test_subjects_beyond_the_safe_length_never_match(self) -> None:
        condition = {"field": "body", "operator": "matches", "value": "urgent"}
        assert evaluate(condition, {"body": "x" * (MAX_SUBJECT - 6) + "urgent"}) is True
        assert evaluate(condition, {"body": "x" * MAX_SUBJECT + "urgent"}) is False

    def test_dropping_dot_star_keeps_the_answer(self) -> None:
        for subject in ("", "urgent", "very urgent!", "urg\nent", "not\nurgent\n"):
            for pattern in (".*urgent.*", ".*urgent", "urgent.*"):
                expected = compile_safe_regex(pattern).regex.search(subject) is not None
                assert expected is (re.search(pattern, subject) is not None)
