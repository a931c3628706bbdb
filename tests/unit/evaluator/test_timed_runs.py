"""The evaluator's side of SPEC section 8: which events re-plan or cancel waiting runs, with what
command, and the cancel keys a matched run carries."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from crmflow.commands import ActionCommand, ActionCommandDict
from crmflow.statuses import Evaluation
from crmflow_evaluator.evaluation import evaluate_event
from crmflow_evaluator.rules_index import RulesIndex
from tests.support.rules import NOTE_ACTION, rule_record

SOURCE: Any = {"topic": "crm.appointment", "partition": 0, "offset": 1, "timestamp": 1.0}
REMINDER = {"type": "delay_until", "args": {"at": "{appointment.startsAt}", "offsetSeconds": -86400}}
CANCEL_ON = [
    {
        "eventName": "crm/appointment.updated",
        "match": "appointment.id",
        "conditionsJson": {"field": "changes.status", "operator": "changed_to", "value": "cancelled"},
    }
]


def index_with(rule_id: str = "r1", practice: str = "p1", **fields: Any) -> RulesIndex:
    defaults: dict[str, Any] = {
        "triggerEvent": "crm/appointment.created",
        "actionsJson": [REMINDER, NOTE_ACTION],
        "cancelOn": CANCEL_ON,
    }
    record = rule_record(id=rule_id, practiceId=practice, **{**defaults, **fields})
    index = RulesIndex()
    index.apply(rule_id, json.dumps(record).encode())
    return index


def appointment_event(name: str, changes: dict[str, Any] | None = None, **appointment: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "appointment": {"id": "a1", "patientId": "pat1", "startsAt": "2027-01-02T10:00:00Z", **appointment},
        "patient": {"id": "pat1"},
    }
    if changes is not None:
        data["changes"] = changes
    return {
        "id": "e1",
        "practiceId": "p1",
        "name": name,
        "entityType": "appointment",
        "entityId": "a1",
        "occurredAt": "2027-01-01T10:00:00+00:00",
        "data": data,
        "correlationId": "e1",
        "causationId": None,
        "depth": 0,
    }


def messages(index: RulesIndex, event: dict[str, Any]) -> list[ActionCommandDict]:
    out = evaluate_event(event, index, max_depth=3, source=SOURCE).messages
    for message in out:  # every message is a valid command
        TypeAdapter(ActionCommand).validate_python(message)
    return out


def test_a_matched_run_carries_its_cancel_keys() -> None:
    (_, run) = messages(index_with(), appointment_event("crm/appointment.created"))
    assert run["kind"] == "run" and run["status"] == Evaluation.MATCHED
    assert run["cancelKeys"] == ['0:"a1"']
    (_, plain) = messages(index_with(cancelOn=None), appointment_event("crm/appointment.created"))
    assert "cancelKeys" not in plain


def test_moving_the_followed_field_re_plans_the_rule() -> None:
    moved = appointment_event(
        "crm/appointment.updated",
        {"startsAt": {"from": "2027-01-02T10:00:00Z", "to": "2027-01-03T10:00:00Z"}},
        startsAt="2027-01-03T10:00:00Z",
    )
    (marker, replan) = messages(index_with(), moved)
    assert marker["kind"] == "event" and marker["runsExpected"] == 0
    assert replan == {
        "kind": "replan",
        "practiceId": "p1",
        "ruleId": "r1",
        "entityType": "appointment",
        "entityId": "a1",
        "field": "startsAt",
        "value": "2027-01-03T10:00:00Z",
        "eventId": "e1",
    }
    cleared = appointment_event(
        "crm/appointment.updated", {"startsAt": {"from": "x", "to": None}}, startsAt=None
    )
    assert messages(index_with(), cleared)[1]["value"] is None


def test_other_changes_other_practices_and_unbound_rules_re_plan_nothing() -> None:
    other_field = appointment_event("crm/appointment.updated", {"provider": {"from": "a", "to": "b"}})
    assert [m["kind"] for m in messages(index_with(), other_field)] == ["event"]
    assert [m["kind"] for m in messages(index_with(practice="p2"), other_field)] == ["event"]
    literal = {"type": "delay_until", "args": {"at": "2027-01-01T00:00:00Z"}}
    moved = appointment_event("crm/appointment.updated", {"startsAt": {"from": "x", "to": "y"}})
    assert [m["kind"] for m in messages(index_with(actionsJson=[literal, NOTE_ACTION]), moved)] == ["event"]


def test_a_cancelling_event_cancels_by_its_value_at_match_when_its_conditions_hold() -> None:
    cancelled = appointment_event(
        "crm/appointment.updated", {"status": {"from": "scheduled", "to": "cancelled"}}
    )
    (_, cancel) = messages(index_with(), cancelled)
    assert cancel == {
        "kind": "cancel",
        "practiceId": "p1",
        "ruleId": "r1",
        "cancelKey": '0:"a1"',
        "eventId": "e1",
    }
    confirmed = appointment_event(
        "crm/appointment.updated", {"status": {"from": "scheduled", "to": "confirmed"}}
    )
    assert [m["kind"] for m in messages(index_with(), confirmed)] == ["event"]


def test_controls_come_before_the_events_own_runs_and_disabled_rules_still_cancel() -> None:
    index = index_with(enabled=False)
    index.apply(
        "r2",
        json.dumps(rule_record(id="r2", practiceId="p1", triggerEvent="crm/appointment.updated")).encode(),
    )
    cancelled = appointment_event(
        "crm/appointment.updated", {"status": {"from": "scheduled", "to": "cancelled"}}
    )
    kinds = [(m["kind"], m.get("ruleId")) for m in messages(index, cancelled)]
    assert kinds == [("event", None), ("cancel", "r1"), ("run", "r2")]


def test_a_test_button_event_changes_no_waiting_run() -> None:
    cancelled = appointment_event(
        "crm/appointment.updated", {"status": {"from": "scheduled", "to": "cancelled"}}
    )
    cancelled["onlyRuleId"] = "r1"
    assert [m["kind"] for m in messages(index_with(), cancelled)] == ["event"]


def test_a_rule_change_moves_it_between_the_indexes() -> None:
    index = index_with()
    assert [r.id for r in index.cancelled_by("p1", "crm/appointment.updated")] == ["r1"]
    assert [r.id for r in index.following("p1", "appointment")] == ["r1"]
    index.apply("r1", json.dumps(rule_record(id="r1", practiceId="p1", version=2)).encode())
    assert index.cancelled_by("p1", "crm/appointment.updated") == []
    assert index.following("p1", "appointment") == []
    index.apply("r1", None)
