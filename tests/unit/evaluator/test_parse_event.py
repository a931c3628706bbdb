"""parse_event refuses what would otherwise poison a command downstream (ids of the wrong type)."""

import json

import pytest

from crmflow.envelope import BadEvent, parse_event
from tests.unit.evaluator.test_evaluation import event


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"correlationId": 7}, "bad_correlationId"),
        ({"correlationId": ""}, "bad_correlationId"),
        ({"causationId": {"id": "x"}}, "bad_causationId"),
        ({"onlyRuleId": ["r1"]}, "bad_onlyRuleId"),
    ],
)
def test_ids_of_the_wrong_type_are_refused(changes, reason):
    with pytest.raises(BadEvent) as info:
        parse_event(json.dumps(event(**changes)).encode())
    assert info.value.reason == reason


@pytest.mark.parametrize("raw", [None, b""])
def test_tombstones_and_empty_values_are_refused_as_empty(raw):
    with pytest.raises(BadEvent) as info:
        parse_event(raw)
    assert info.value.reason == "empty"


def test_absent_or_null_optional_ids_are_fine():
    ev = event(causationId=None)
    del ev["correlationId"]
    assert parse_event(json.dumps(ev).encode())["id"] == "e1"
