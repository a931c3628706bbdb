"""wait_for_event and ``when`` (SPEC section 13), the pure part: keys, ordering, the waitedEvent
shape and placeholders, and the save-time validation at each field's path."""

from __future__ import annotations

from typing import Any

import pytest

from crmflow.actions import validate_actions
from crmflow.rule_validation import validate_rule
from crmflow.settings import DEFAULT_PATIENT_FIELD_ALLOWLIST
from crmflow.wait_for_event import (
    match_value,
    occurred_after,
    wait_key,
    waited_event,
    waited_placeholder_ok,
    when_holds,
)
from tests.support.rules import WAIT_FOR_CONFIRMATION as WAIT

TASK: dict[str, Any] = {
    "type": "create_task",
    "args": {"title": "Call {patientId}"},
    "when": {"field": "waitedEvent", "operator": "not_exists"},
}


def errors_of(actions: list[Any], trigger: str = "crm/appointment.created") -> list[tuple[Any, str]]:
    found = validate_rule(trigger, None, actions, DEFAULT_PATIENT_FIELD_ALLOWLIST)
    return [(e.loc, e.type) for e in found]


def test_wait_keys_are_the_action_index_and_the_json_of_the_value() -> None:
    assert wait_key(0, "a1") == '0:"a1"'
    assert wait_key(2, 7) == "2:7"
    assert wait_key(1, {"b": 1, "a": 2}) == '1:{"a":2,"b":1}'
    assert wait_key(0, "a1") != wait_key(1, "a1")


def test_match_values() -> None:
    data = {"appointment": {"id": "a1"}}
    assert match_value(data, "appointment.id") == "a1"
    assert match_value(data, ("appointment", "id")) == "a1"
    assert match_value(data, "appointment.nope") is None


def test_only_an_event_that_occurred_after_the_trigger_counts() -> None:
    trigger = "2026-12-07T10:00:00.000100+00:00"
    assert occurred_after("2026-12-07T10:00:00.050000+00:00", trigger)
    assert not occurred_after(trigger, trigger)  # the run's own triggering event
    assert not occurred_after("2026-12-07T09:59:59+00:00", trigger)
    assert occurred_after("2026-12-07T11:00:00+01:00", "2026-12-07T09:59:00+00:00")
    assert not occurred_after("not a time", trigger)
    assert not occurred_after("2026-12-07T11:00:00", trigger)  # no offset: unreadable
    assert not occurred_after("2026-12-07T11:00:00+00:00", None)


def test_waited_event_shape() -> None:
    envelope = {
        "id": "e2",
        "practiceId": "p",
        "name": "crm/appointment.updated",
        "entityType": "appointment",
        "entityId": "a1",
        "occurredAt": "2026-12-07T10:00:00+00:00",
        "data": {"appointment": {"id": "a1"}},
        "correlationId": "c",
        "depth": 0,
    }
    assert waited_event(envelope) == {
        "id": "e2",
        "name": "crm/appointment.updated",
        "occurredAt": "2026-12-07T10:00:00+00:00",
        "entityType": "appointment",
        "entityId": "a1",
        "data": {"appointment": {"id": "a1"}},
    }


def test_when_sees_the_event_context_and_waited_event() -> None:
    context = {"appointment": {"status": "scheduled"}, "patientId": "p1"}
    absent = {"field": "waitedEvent", "operator": "not_exists"}
    assert when_holds(None, context)
    assert when_holds(absent, context)
    waited = {**context, "waitedEvent": {"data": {"appointment": {"status": "confirmed"}}}}
    assert not when_holds(absent, waited)
    confirmed = {"field": "waitedEvent.data.appointment.status", "operator": "equals", "value": "confirmed"}
    assert when_holds(confirmed, waited) and not when_holds(confirmed, context)
    assert when_holds({"field": "patientId", "operator": "equals", "value": "p1"}, context)


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("waitedEvent", True),
        ("waitedEvent.id", True),
        ("waitedEvent.occurredAt", True),
        ("waitedEvent.data", True),
        ("waitedEvent.data.appointment.id", True),
        ("waitedEvent.data.appointment.nope", False),
        ("waitedEvent.data.invoice", False),
        ("waitedEvent.practiceId", False),
        ("waitedEvent.id.x", False),
    ],
)
def test_waited_event_placeholders(path: str, ok: bool) -> None:
    assert waited_placeholder_ok(path, ["crm/appointment.updated"]) is ok
    assert not waited_placeholder_ok(path, [])


def test_a_confirmation_rule_is_valid() -> None:
    note = {
        "type": "create_note",
        "args": {"patientId": "{patientId}", "body": "{waitedEvent.data.appointment.id}"},
    }
    assert errors_of([WAIT, TASK, note]) == []
    assert errors_of([{**WAIT, "args": {k: v for k, v in WAIT["args"].items() if k != "onTimeout"}}]) == []


def test_waited_event_placeholders_need_an_earlier_wait() -> None:
    note = {"type": "create_note", "args": {"patientId": "{patientId}", "body": "{waitedEvent.id}"}}
    assert errors_of([note, WAIT]) == [((("actionsJson", 0, "args", "body")), "unresolvable_placeholder")]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"timeoutSeconds": 0}, [("actionsJson", 0, "args", "timeoutSeconds")]),
        ({"timeoutSeconds": "60"}, [("actionsJson", 0, "args", "timeoutSeconds")]),
        ({"timeoutSeconds": 31_536_001}, [("actionsJson", 0, "args", "timeoutSeconds")]),
        ({"onTimeout": "retry"}, [("actionsJson", 0, "args", "onTimeout")]),
        ({"eventName": "crm/invoice.paid"}, [("actionsJson", 0, "args", "eventName")]),
        ({"match": "appointment.nope"}, [("actionsJson", 0, "args", "match")] * 2),
        ({"match": ""}, [("actionsJson", 0, "args", "match")]),
        ({"match": "a..b"}, [("actionsJson", 0, "args", "match")]),
        (
            {"conditionsJson": {"field": "x", "operator": "nope", "value": 1}},
            [("actionsJson", 0, "args", "conditionsJson", "operator")],
        ),
        ({"extra": 1}, [("actionsJson", 0, "args", "extra")]),
    ],
)
def test_wait_args_are_refused_at_their_path(args: dict[str, Any], expected: list[tuple[Any, ...]]) -> None:
    action = {"type": "wait_for_event", "args": {**WAIT["args"], **args}}
    assert [loc for loc, _ in errors_of([action])] == expected


def test_required_wait_args() -> None:
    found = {loc for loc, _ in errors_of([{"type": "wait_for_event", "args": {}}])}
    assert found == {("actionsJson", 0, "args", name) for name in ("eventName", "match", "timeoutSeconds")}


def test_when_is_validated_at_its_path() -> None:
    bad = {**TASK, "when": {"field": "waitedEvent", "operator": "sometimes"}}
    assert errors_of([WAIT, WAIT, bad]) == [(("actionsJson", 2, "when", "operator"), "unknown_operator")]
    nested = {**TASK, "when": {"operator": "and", "conditions": [{"field": "", "operator": "exists"}]}}
    assert [loc for loc, _ in errors_of([nested])] == [("actionsJson", 0, "when", "conditions", 0, "field")]
    assert errors_of([{**TASK, "when": None}]) == []
    assert [loc for loc, _ in errors_of([{**TASK, "when": "yes"}])] == [("actionsJson", 0, "when")]


def test_match_must_resolve_for_the_trigger_too() -> None:
    action = {"type": "wait_for_event", "args": {**WAIT["args"], "match": "appointment.id"}}
    assert [(loc, t) for loc, t in errors_of([action], trigger="crm/patient.created")] == [
        (("actionsJson", 0, "args", "match"), "match_path")
    ]
    assert validate_actions([action], None) == []
