"""The evaluator's side of wait_for_event (SPEC section 13): which events signal which rules'
waits, with what wait key, and that the signals are valid commands."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from crmflow.commands import ActionCommand
from crmflow_evaluator.evaluation import evaluate_event
from crmflow_evaluator.rules_index import RulesIndex
from tests.support.rules import NOTE_ACTION, rule_record
from tests.support.rules import WAIT_FOR_CONFIRMATION as WAIT
from tests.unit.evaluator.test_timed_runs import SOURCE, appointment_event


def index_with(rule_id: str = "r1", **fields: Any) -> RulesIndex:
    defaults: dict[str, Any] = {"triggerEvent": "crm/appointment.created", "actionsJson": [NOTE_ACTION, WAIT]}
    index = RulesIndex()
    index.apply(
        rule_id, json.dumps(rule_record(id=rule_id, practiceId="p1", **{**defaults, **fields})).encode()
    )
    return index


def signals_of(event: dict[str, Any], index: RulesIndex) -> list[dict[str, Any]]:
    messages = evaluate_event(event, index, max_depth=3, source=SOURCE).messages
    for message in messages:
        TypeAdapter(ActionCommand).validate_python(message)
    return [dict(m) for m in messages if m["kind"] == "signal"]


def test_an_awaited_event_signals_the_rule_with_its_wait_key() -> None:
    event = appointment_event("crm/appointment.updated", status="confirmed")
    [signal] = signals_of(event, index_with())
    assert signal == {
        "kind": "signal",
        "practiceId": "p1",
        "ruleId": "r1",
        "actionIndex": 1,
        "waitKey": '1:"a1"',
        "eventId": "e1",
        "occurredAt": event["occurredAt"],
        "event": {
            "id": "e1",
            "name": "crm/appointment.updated",
            "occurredAt": event["occurredAt"],
            "entityType": "appointment",
            "entityId": "a1",
            "data": event["data"],
        },
    }


def test_signals_come_before_the_events_runs() -> None:
    index = index_with(triggerEvent="crm/appointment.updated")
    kinds = [
        m["kind"]
        for m in evaluate_event(
            appointment_event("crm/appointment.updated", status="confirmed"),
            index,
            max_depth=3,
            source=SOURCE,
        ).messages
    ]
    assert kinds == ["event", "signal", "run"]


def test_no_signal_when_the_condition_or_the_match_fails() -> None:
    index = index_with()
    assert signals_of(appointment_event("crm/appointment.updated", status="scheduled"), index) == []
    assert signals_of(appointment_event("crm/appointment.created", status="confirmed"), index) == []
    no_id = appointment_event("crm/appointment.updated", status="confirmed")
    del no_id["data"]["appointment"]["id"]
    assert signals_of(no_id, index) == []
    other = appointment_event("crm/appointment.updated", status="confirmed")
    other["practiceId"] = "p2"
    assert signals_of(other, index) == []


def test_a_disabled_rule_still_signals_its_waiting_runs_and_a_deleted_one_does_not() -> None:
    index = index_with(enabled=False)
    assert len(signals_of(appointment_event("crm/appointment.updated", status="confirmed"), index)) == 1
    index.apply("r1", None)
    assert signals_of(appointment_event("crm/appointment.updated", status="confirmed"), index) == []


def test_a_new_version_without_the_wait_stops_signalling() -> None:
    index = index_with()
    record = rule_record(id="r1", practiceId="p1", triggerEvent="crm/appointment.created", version=2)
    index.apply("r1", json.dumps(record).encode())
    assert signals_of(appointment_event("crm/appointment.updated", status="confirmed"), index) == []


def test_a_test_button_event_signals_nothing() -> None:
    event = {**appointment_event("crm/appointment.updated", status="confirmed"), "onlyRuleId": "r1"}
    assert signals_of(event, index_with()) == []


def test_every_wait_of_a_rule_gets_its_own_signal() -> None:
    index = index_with(
        actionsJson=[WAIT, NOTE_ACTION, {**WAIT, "args": {**WAIT["args"], "conditionsJson": None}}]
    )
    found = signals_of(appointment_event("crm/appointment.updated", status="confirmed"), index)
    assert [s["waitKey"] for s in found] == ['0:"a1"', '2:"a1"']
    found = signals_of(appointment_event("crm/appointment.updated", status="scheduled"), index)
    assert [s["waitKey"] for s in found] == ['2:"a1"']
