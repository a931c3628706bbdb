"""The pure part of a backtest: the evaluator's verdicts, counted per day, and would-be actions."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crmflow.backtest_record import SAMPLE_SIZE
from crmflow.statuses import Evaluation
from crmflow_api.backtests.tally import Tally, compile_definition, would_be_actions
from crmflow_evaluator.evaluation import evaluate_event, judge
from crmflow_evaluator.rules_index import RulesIndex

PRACTICE = str(uuid.uuid4())
CONSULTATION: dict[str, Any] = {
    "triggerEvent": "crm/appointment.created",
    "conditionsJson": {"field": "appointment.visitType", "operator": "equals", "value": "Consultation"},
    "actionsJson": [
        {
            "type": "create_note",
            "args": {"patientId": "{patientId}", "body": "Booked {appointment.visitType}"},
        },
        {"type": "create_task", "args": {"title": "Call {patient.firstName}", "patientId": "{patientId}"}},
    ],
}
T0 = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)


def event(visit_type: str, *, depth: int = 0, first_name: str | None = "Ada") -> dict[str, Any]:
    patient_id = str(uuid.uuid4())
    patient: dict[str, Any] = {"id": patient_id}
    if first_name is not None:
        patient["firstName"] = first_name
    return {
        "id": str(uuid.uuid4()),
        "practiceId": PRACTICE,
        "name": "crm/appointment.created",
        "entityType": "appointment",
        "entityId": str(uuid.uuid4()),
        "data": {"appointment": {"visitType": visit_type, "patientId": patient_id}, "patient": patient},
        "correlationId": None,
        "depth": depth,
    }


def tally(zone: str = "UTC", days: int = 3) -> Tally:
    rule = compile_definition(PRACTICE, CONSULTATION)
    return Tally(rule, T0 - timedelta(days=days), T0 + timedelta(hours=1), ZoneInfo(zone), max_depth=3)


def test_verdicts_are_the_evaluators_run_statuses():
    rule_id = str(uuid.uuid4())
    rule = compile_definition(PRACTICE, CONSULTATION, rule_id, 4)
    index = RulesIndex()
    record = {**CONSULTATION, "id": rule_id, "practiceId": PRACTICE, "name": "r", "enabled": True}
    index.apply(rule_id, json.dumps({**record, "version": 4, "createdAt": "", "updatedAt": ""}).encode())
    source = {"topic": "crm.appointment", "partition": 0, "offset": 0, "timestamp": None}
    for e in (event("Consultation"), event("Checkup"), event("Consultation", depth=4)):
        live = evaluate_event(e, index, max_depth=3, source=source).messages[-1]
        assert judge(rule, e, max_depth=3, explain=False).status == live["status"]
        assert judge(rule, e, max_depth=3).trace == live["trace"]


def test_counts_per_day_in_the_practice_zone_with_empty_days():
    t = tally("Europe/Berlin")
    t.add(event("Consultation"), T0)  # 23:30 in Berlin: Dec 1
    t.add(event("Checkup"), T0 + timedelta(minutes=45))  # 00:15 in Berlin: Dec 2
    t.add(event("Consultation", depth=5), T0 - timedelta(days=1))
    assert (t.scanned, t.matched) == (3, 1)
    assert t.verdicts == {Evaluation.MATCHED: 1, Evaluation.SKIPPED: 1, Evaluation.BLOCKED: 1}
    assert t.by_day() == [
        {"day": "2026-11-28", "scanned": 0, "matched": 0},
        {"day": "2026-11-29", "scanned": 0, "matched": 0},
        {"day": "2026-11-30", "scanned": 1, "matched": 0},
        {"day": "2026-12-01", "scanned": 1, "matched": 1},
        {"day": "2026-12-02", "scanned": 1, "matched": 0},
    ]


def test_sample_holds_the_latest_matches_newest_first_with_trace_and_actions():
    t = tally()
    events = [event("Consultation") for _ in range(SAMPLE_SIZE + 5)]
    for i, e in enumerate(events):
        t.add(e, T0 - timedelta(minutes=len(events) - i))
    sample = t.sample({e["id"]: e for e in events})
    assert len(sample) == SAMPLE_SIZE
    assert [s["eventId"] for s in sample] == [e["id"] for e in reversed(events[5:])]
    first = sample[0]
    assert first["trace"]["passed"] is True
    assert first["actions"][0] == {
        "index": 0,
        "type": "create_note",
        "outcome": "would_run",
        "args": {"patientId": events[-1]["data"]["patient"]["id"], "body": "Booked Consultation"},
    }


def test_would_be_actions_fail_as_the_runner_would_and_stop_there():
    actions = would_be_actions(
        [*CONSULTATION["actionsJson"][::-1], {"type": "delay_seconds", "args": {}}],
        event("Consultation", first_name=None),
    )
    assert actions[0]["outcome"] == "would_fail"
    assert actions[0]["error"].startswith("unresolved placeholder {patient.firstName}")
    assert [a["outcome"] for a in actions[1:]] == ["not_reached", "not_reached"]
    bad = would_be_actions(
        [{"type": "delay_seconds", "args": {"seconds": "{appointment.visitType}"}}], event("x")
    )
    assert bad[0]["outcome"] == "would_fail" and bad[0]["error"].startswith("invalid args: seconds")


def test_within_conditions_are_judged_at_the_events_time():
    rule = compile_definition(
        PRACTICE,
        {
            **CONSULTATION,
            "conditionsJson": {"field": "appointment.startsAt", "operator": "within_next", "value": "P1D"},
        },
    )
    e = event("x")
    e["data"]["appointment"]["startsAt"] = (T0 + timedelta(hours=2)).isoformat()
    assert judge(rule, e, max_depth=3, now=T0, explain=False).status == Evaluation.MATCHED
    assert judge(rule, e, max_depth=3, now=T0 + timedelta(days=3), explain=False).status == Evaluation.SKIPPED
