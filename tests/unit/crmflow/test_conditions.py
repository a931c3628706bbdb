"""Semantics of every condition operator (SPEC section 5), table-driven."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crmflow.conditions import HOT_AFTER, compile_condition, evaluate, explain

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)

DATA: dict[str, Any] = {
    "patient": {
        "id": "p1",
        "email": "ada@example.com",
        "phone": None,
        "nickname": "",
        "tags": ["vip", "new", 3, True, None, {"k": 1}, [1, 2]],
        "emptyTags": [],
        "age": 42,
        "score": 1.5,
        "isActive": True,
        "count": 0,
        "dateOfBirth": "1983-07-01",
        "createdAt": "2025-03-01T09:00:00Z",
        "nextFollowUpAt": "2025-03-11T09:00:00+02:00",
        "lastSeenAt": "2025-03-10T06:00:00",
        "address": {"city": "Lyon", "zip": "69001"},
        "numericString": "42",
    },
    "appointment": {"status": "scheduled", "visitType": "Consultation", "startsAt": "2025-03-10T15:00:00Z"},
    "changes": {"status": {"from": "scheduled", "to": "cancelled"}, "tags": {"from": [], "to": ["vip"]}},
}


def leaf(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    node: dict[str, Any] = {"field": field, "operator": operator}
    if operator not in {"exists", "not_exists", "changed"}:
        node["value"] = value
    return node


CASES: list[tuple[str, str, Any, bool]] = [
    # equals: JSON equality, numbers by value, no coercion
    ("appointment.status", "equals", "scheduled", True),
    ("appointment.status", "equals", "Scheduled", False),
    ("patient.age", "equals", 42, True),
    ("patient.age", "equals", 42.0, True),
    ("patient.age", "equals", "42", False),
    ("patient.numericString", "equals", 42, False),
    ("patient.isActive", "equals", True, True),
    ("patient.isActive", "equals", 1, False),
    ("patient.count", "equals", False, False),
    ("patient.count", "equals", 0, True),
    ("patient.phone", "equals", None, True),
    ("patient.missing", "equals", None, False),
    ("patient.address", "equals", {"city": "Lyon", "zip": "69001"}, True),
    ("patient.address", "equals", {"city": "Lyon"}, False),
    ("patient.emptyTags", "equals", [], True),
    ("patient.tags.6", "equals", [1, 2.0], True),
    ("patient.tags.6", "equals", [1, True], False),
    ("patient.missing", "equals", "x", False),
    # not_equals: exactly not equals (true when missing)
    ("appointment.status", "not_equals", "scheduled", False),
    ("appointment.status", "not_equals", "cancelled", True),
    ("patient.missing", "not_equals", "x", True),
    ("patient.age", "not_equals", "42", True),
    ("patient.isActive", "not_equals", 1, True),
    ("patient.phone", "not_equals", None, False),
    ("patient.address", "not_equals", {"city": "Lyon", "zip": "69001"}, False),
    # contains: substring (case-sensitive) or list element JSON-equal
    ("patient.email", "contains", "@example", True),
    ("patient.email", "contains", "@EXAMPLE", False),
    ("patient.email", "contains", "", True),
    ("patient.tags", "contains", "vip", True),
    ("patient.tags", "contains", "vi", False),
    ("patient.tags", "contains", 3, True),
    ("patient.tags", "contains", 3.0, True),
    ("patient.tags", "contains", 1, False),  # True in the list is not the number 1
    ("patient.tags", "contains", True, True),
    ("patient.tags", "contains", None, True),
    ("patient.tags", "contains", {"k": 1}, True),
    ("patient.tags", "contains", [1, 2], True),
    ("patient.age", "contains", 4, False),
    ("patient.address", "contains", "city", False),
    ("patient.missing", "contains", "x", False),
    ("patient.numericString", "contains", 4, False),
    # in / not_in
    ("appointment.status", "in", ["scheduled", "confirmed"], True),
    ("appointment.status", "in", ["confirmed"], False),
    ("patient.age", "in", [41, 42.0], True),
    ("patient.age", "in", ["42"], False),
    ("patient.isActive", "in", [1], False),
    ("patient.isActive", "in", [True], True),
    ("patient.count", "in", [False], False),
    ("patient.phone", "in", [None], True),
    ("patient.missing", "in", [None], False),
    ("patient.address", "in", [{"city": "Lyon", "zip": "69001"}], True),
    ("patient.missing", "not_in", ["x"], True),
    ("appointment.status", "not_in", ["scheduled"], False),
    ("appointment.status", "in", [], False),
    ("appointment.status", "not_in", [], True),
    # starts_with / ends_with: strings only
    ("patient.email", "starts_with", "ada@", True),
    ("patient.email", "starts_with", "Ada", False),
    ("patient.email", "ends_with", ".com", True),
    ("patient.age", "starts_with", "4", False),
    ("patient.tags", "starts_with", "vip", False),
    ("patient.missing", "ends_with", "", False),
    # matches: search semantics
    ("patient.email", "matches", r"^[a-z]+@example\.com$", True),
    ("patient.email", "matches", r"example", True),
    ("patient.email", "matches", r"(?i)EXAMPLE", True),
    ("patient.email", "matches", r"^example", False),
    ("patient.age", "matches", r"4", False),
    ("patient.missing", "matches", r".*", False),
    # greater_than / less_than and the inclusive variants: numbers
    ("patient.age", "greater_than", 41, True),
    ("patient.age", "greater_than", 42, False),
    ("patient.age", "greater_than", 41.5, True),
    ("patient.score", "less_than", 2, True),
    ("patient.age", "less_than", 42, False),
    ("patient.age", "greater_than_or_equal", 42, True),
    ("patient.age", "less_than_or_equal", 42.0, True),
    ("patient.age", "greater_than_or_equal", 43, False),
    ("patient.isActive", "greater_than", 0, False),  # a boolean is not a number
    ("patient.numericString", "greater_than", 1, False),  # no coercion
    ("patient.missing", "less_than", 1, False),
    ("patient.phone", "less_than", 1, False),
    ("patient.createdAt", "greater_than", 1, False),
    # ... and date-times, chronologically (Z, offsets, naive = UTC, date-only = midnight)
    ("patient.createdAt", "greater_than", "2025-02-28T23:59:59Z", True),
    ("patient.createdAt", "less_than", "2025-03-01T10:00:00+02:00", False),  # 08:00Z < 09:00Z
    ("patient.createdAt", "greater_than", "2025-03-01T10:00:00+02:00", True),
    ("patient.createdAt", "greater_than_or_equal", "2025-03-01T09:00:00", True),
    ("patient.createdAt", "less_than_or_equal", "2025-03-01T09:00:00.000+00:00", True),
    ("patient.nextFollowUpAt", "less_than", "2025-03-11T08:00:00Z", True),  # 07:00Z
    ("patient.lastSeenAt", "greater_than", "2025-03-10T05:59:59Z", True),
    ("patient.dateOfBirth", "less_than", "1990-01-01", True),
    ("patient.dateOfBirth", "greater_than", "1983-06-30T23:00:00-02:00", False),  # = 07-01T01:00Z
    ("patient.email", "greater_than", "2020-01-01T00:00:00Z", False),
    ("patient.age", "greater_than", "2020-01-01T00:00:00Z", False),
    # exists / not_exists
    ("patient.email", "exists", None, True),
    ("patient.nickname", "exists", None, True),
    ("patient.emptyTags", "exists", None, True),
    ("patient.count", "exists", None, True),
    ("patient.phone", "exists", None, False),
    ("patient.missing", "exists", None, False),
    ("patient.email.x", "exists", None, False),
    ("patient.phone", "not_exists", None, True),
    ("patient.missing", "not_exists", None, True),
    ("patient.nickname", "not_exists", None, False),
    # array indexing in paths
    ("patient.tags.0", "equals", "vip", True),
    ("patient.tags.5.k", "equals", 1, True),
    ("patient.tags.99", "exists", None, False),
    ("patient.tags.01", "exists", None, False),
    ("patient.address.0", "exists", None, False),
    # changed / changed_to / changed_from: on data.changes; entity prefix tolerated
    ("status", "changed", None, True),
    ("appointment.status", "changed", None, True),
    ("changes.status", "changed", None, True),
    ("visitType", "changed", None, False),
    ("status", "changed_to", "cancelled", True),
    ("patient.status", "changed_to", "scheduled", False),
    ("status", "changed_from", "scheduled", True),
    ("tags", "changed_to", ["vip"], True),
    ("tags", "changed_from", None, False),
    ("visitType", "changed_to", "x", False),
]


@pytest.mark.parametrize(("field", "operator", "value", "expected"), CASES)
def test_operator(field: str, operator: str, value: Any, expected: bool) -> None:
    condition = leaf(field, operator, value)
    for codegen in ("off", "eager"):
        assert compile_condition(condition, codegen=codegen).evaluate(DATA, now=NOW) is expected, codegen
    compiled = compile_condition(condition)
    for _ in range(HOT_AFTER + 2):  # across the switch from closures to generated code
        assert compiled.evaluate(DATA, now=NOW) is expected
    explained = compiled.explain(DATA, now=NOW)
    assert explained.matched is expected
    assert explained.trace is not None and explained.trace["passed"] is expected
    json.dumps(explained.trace, allow_nan=False)


def test_not_equals_is_exactly_not_equals_on_the_table() -> None:
    for field, operator, value, _ in CASES:
        if operator == "equals":
            assert evaluate(leaf(field, "not_equals", value), DATA) is not evaluate(
                leaf(field, operator, value), DATA
            )


@pytest.mark.parametrize(
    ("field", "value", "now", "expected"),
    [
        ("appointment.startsAt", "24h", NOW, True),  # 3 h ahead
        ("appointment.startsAt", "2h", NOW, False),
        ("appointment.startsAt", "PT3H", NOW, True),  # the boundary is included
        ("appointment.startsAt", 10800, NOW, True),
        ("appointment.startsAt", "179m", NOW, False),
        ("appointment.startsAt", "1d", NOW + timedelta(hours=4), False),  # already past
        ("appointment.startsAt", "P1D", NOW.replace(tzinfo=None), True),  # naive now = UTC
        ("patient.createdAt", "7d", NOW, False),
        ("patient.missing", "7d", NOW, False),
        ("patient.email", "7d", NOW, False),
    ],
)
def test_within_next(field: str, value: Any, now: datetime, expected: bool) -> None:
    assert (
        compile_condition({"field": field, "operator": "within_next", "value": value}).evaluate(DATA, now=now)
        is expected
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("patient.createdAt", "10d", True),  # 9 days 3 h ago
        ("patient.createdAt", "P9D", False),
        ("patient.createdAt", "1w2d3h", True),
        ("patient.lastSeenAt", "6h", True),  # naive field = UTC, 6 h ago
        ("patient.lastSeenAt", "5h", False),
        ("appointment.startsAt", "30d", False),  # in the future
    ],
)
def test_within_last(field: str, value: Any, expected: bool) -> None:
    condition = {"field": field, "operator": "within_last", "value": value}
    assert compile_condition(condition).evaluate(DATA, now=NOW) is expected


def test_within_uses_the_clock_by_default() -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    condition = {"field": "at", "operator": "within_next", "value": "10m"}
    assert evaluate(condition, {"at": soon}) is True
    assert compile_condition(condition).uses_now is True
    assert compile_condition({"field": "at", "operator": "exists"}).uses_now is False


def test_within_near_the_end_of_time_does_not_overflow() -> None:
    condition = {"field": "at", "operator": "within_next", "value": "P36500D"}
    assert evaluate(condition, {"at": "9999-12-31T00:00:00Z"}, now=datetime(9999, 1, 1, tzinfo=UTC)) is True


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (None, True),
        ({}, True),
        ({"operator": "and", "conditions": []}, True),
        ({"operator": "or", "conditions": []}, False),
        ({"operator": "and", "conditions": [leaf("appointment.status", "equals", "scheduled")]}, True),
        (
            {
                "operator": "and",
                "conditions": [
                    leaf("appointment.status", "equals", "scheduled"),
                    leaf("appointment.visitType", "equals", "Consultation"),
                ],
            },
            True,
        ),
        (
            {
                "operator": "or",
                "conditions": [leaf("patient.phone", "exists"), leaf("patient.email", "exists")],
            },
            True,
        ),
        (
            {
                "operator": "or",
                "conditions": [leaf("patient.phone", "exists"), leaf("patient.fax", "exists")],
            },
            False,
        ),
        ({"operator": "not", "conditions": [leaf("patient.phone", "exists")]}, True),
        ({"operator": "not", "condition": leaf("patient.email", "exists")}, False),
        (
            {
                "operator": "and",
                "conditions": [
                    {
                        "operator": "or",
                        "conditions": [
                            leaf("patient.age", "less_than", 18),
                            leaf("patient.age", "greater_than", 40),
                        ],
                    },
                    {
                        "operator": "not",
                        "conditions": [{"operator": "and", "conditions": [leaf("status", "changed")]}],
                    },
                    leaf("patient.tags", "contains", "vip"),
                    leaf("patient.address.city", "in", ["Lyon", "Paris"]),
                ],
            },
            False,
        ),
    ],
)
def test_groups(condition: Any, expected: bool) -> None:
    for codegen in ("off", "eager"):
        assert compile_condition(condition, codegen=codegen).evaluate(DATA) is expected


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 7])
def test_groups_of_every_size_short_circuit_correctly(size: int) -> None:
    yes, no = leaf("patient.email", "exists"), leaf("patient.phone", "exists")
    for position in range(size):
        only_no = [yes] * size
        only_no[position] = no
        only_yes = [no] * size
        only_yes[position] = yes
        assert evaluate({"operator": "and", "conditions": only_no}, DATA) is False
        assert evaluate({"operator": "or", "conditions": only_yes}, DATA) is True
    assert evaluate({"operator": "and", "conditions": [yes] * size}, DATA) is True
    assert evaluate({"operator": "or", "conditions": [no] * size}, DATA) is False


@pytest.mark.parametrize(
    "data", [None, [], "text", 42, 1.5, True, [{"patient": {}}], {"patient": "x"}, {"patient": None}]
)
def test_data_that_is_not_an_object_never_matches_a_leaf(data: Any) -> None:
    for operator in ("equals", "contains", "greater_than", "in", "starts_with", "matches", "within_next"):
        value = {"in": ["a"], "within_next": "1d", "greater_than": 1}.get(operator, "a")
        assert evaluate(leaf("patient.email", operator, value), data) is False
    assert evaluate(leaf("patient.email", "not_equals", "a"), data) is True
    assert evaluate(leaf("status", "changed"), data) is False


def test_strange_numbers_never_raise() -> None:
    data = {"n": 10**400, "f": float("nan"), "inf": float("inf"), "neg": -(10**5000)}
    for field in ("n", "f", "inf", "neg"):
        for operator, value in [
            ("greater_than", 1.5),
            ("less_than", 10**300),
            ("equals", 1e308),
            ("in", [1, 2.5]),
        ]:
            evaluate(leaf(field, operator, value), data)
        json.dumps(explain(leaf(field, "equals", 1), data), allow_nan=False)
    assert evaluate(leaf("n", "greater_than", 1e308), data) is True
    assert evaluate(leaf("f", "equals", 1), data) is False


def test_deep_data_never_raises() -> None:
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = [deep]
    data = {"a": deep, "b": {"c": deep}}
    for operator, value in [("equals", [[["x"]]]), ("contains", [["x"]]), ("in", [[[1]]]), ("exists", None)]:
        evaluate(leaf("a", operator, value), data)
        json.dumps(explain(leaf("b.c", operator, value), data))


class TestExplain:
    def test_leaf_trace(self) -> None:
        out = explain(leaf("appointment.status", "equals", "scheduled"), DATA)
        assert out == {
            "matched": True,
            "trace": {
                "field": "appointment.status",
                "operator": "equals",
                "value": "scheduled",
                "actual": "scheduled",
                "passed": True,
            },
        }

    def test_missing_field_is_marked(self) -> None:
        trace = explain(leaf("patient.fax", "exists"), DATA)["trace"]
        assert trace == {
            "field": "patient.fax",
            "operator": "exists",
            "actual": "missing",
            "missing": True,
            "passed": False,
        }

    def test_null_is_not_missing(self) -> None:
        trace = explain(leaf("patient.phone", "exists"), DATA)["trace"]
        assert trace["actual"] is None and "missing" not in trace

    def test_group_trace_shows_every_child(self) -> None:
        condition = {
            "operator": "and",
            "conditions": [
                leaf("patient.phone", "exists"),
                {"operator": "not", "condition": leaf("patient.email", "exists")},
            ],
        }
        out = explain(condition, DATA)
        assert out["matched"] is False
        trace = out["trace"]
        assert trace["operator"] == "and" and trace["passed"] is False
        assert [c["passed"] for c in trace["conditions"]] == [False, False]
        assert trace["conditions"][1]["conditions"][0]["passed"] is True

    def test_changed_trace_shows_the_change(self) -> None:
        trace = explain(leaf("status", "changed_to", "cancelled"), DATA)["trace"]
        assert trace["actual"] == "cancelled"
        trace = explain(leaf("status", "changed"), DATA)["trace"]
        assert trace["actual"] == {"from": "scheduled", "to": "cancelled"}

    def test_within_trace_records_now(self) -> None:
        trace = (
            compile_condition(leaf("appointment.startsAt", "within_next", "1d")).explain(DATA, now=NOW).trace
        )
        assert trace is not None and trace["now"] == NOW.isoformat()

    def test_no_condition(self) -> None:
        assert explain(None, DATA) == {"matched": True, "trace": None}

    def test_large_values_are_shortened(self) -> None:
        data = {"body": "x" * 5000, "list": list(range(1000)), "big": 10**100}
        trace = explain(
            {
                "operator": "and",
                "conditions": [leaf("body", "exists"), leaf("list", "exists"), leaf("big", "exists")],
            },
            data,
        )["trace"]
        body, items, big = trace["conditions"]
        assert len(body["actual"]) < 200
        assert items["actual"] == "<array of 1000 items>"
        assert big["actual"].startswith("<integer")
        assert len(json.dumps(trace)) < 1000


def test_compiled_condition_is_reusable_across_events() -> None:
    compiled = compile_condition(leaf("appointment.status", "in", ["scheduled", "confirmed"]))
    events = [{"appointment": {"status": s}} for s in ("scheduled", "cancelled", "confirmed", 3)]
    assert [compiled.evaluate(e) for e in events] == [True, False, True, False]


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        ([{"a": 1}], "0.a", True),
        ([{"a": 1}], "a", False),
        ({"a": [{"b": [0, 1]}]}, "a.0.b.1", True),
        ({"a": {"b": {"c": 1}}}, "a.b.c", True),
        ({"a": {"b": {"c": 1, "d": 2}}}, "a.b.d.e", False),
        ({"0": 1}, "0", True),
        ({"a": {"0": 1}}, "a.0", True),
    ],
)
def test_paths_on_any_container(data: Any, field: str, expected: bool) -> None:
    condition = {"field": field, "operator": "equals", "value": 1}
    for codegen in ("off", "eager"):
        assert compile_condition(condition, codegen=codegen).evaluate(data) is expected
    assert explain(condition, data)["matched"] is expected


def test_traces_share_no_mutable_parts() -> None:
    compiled = compile_condition({"field": "appointment.status", "operator": "in", "value": ["scheduled"]})
    first = compiled.explain(DATA).trace
    assert first is not None
    first["value"].append("mutated")
    first["field"] = "mutated"
    assert compiled.explain(DATA).trace == {
        "field": "appointment.status",
        "operator": "in",
        "value": ["scheduled"],
        "actual": "scheduled",
        "passed": True,
    }
