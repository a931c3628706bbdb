import json
from typing import Any

import pytest

from crmflow.envelope import MAX_EVENT_BYTES, BadEvent, EventEnvelope, parse_event


def event(**overrides):
    base: dict[str, Any] = {
        "id": "e1",
        "practiceId": "p1",
        "name": "crm/patient.created",
        "entityType": "patient",
        "entityId": "x1",
        "occurredAt": "2026-11-25T10:00:00+00:00",
        "data": {"patient": {}},
        "correlationId": "e1",
        "causationId": None,
        "depth": 0,
    }
    base.update(overrides)
    return base


def test_a_valid_event_parses_and_matches_the_contract_model():
    parsed = parse_event(json.dumps(event()).encode())
    assert EventEnvelope.model_validate(parsed).id == "e1"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty"),
        (b"{not json", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1, 2]", "not_object"),
        (json.dumps(event(practiceId=None)).encode(), "missing_practiceId"),
        (json.dumps(event(practiceId="")).encode(), "missing_practiceId"),
        (json.dumps(event(name="crm/unknown.thing")).encode(), "unknown_event"),
        (json.dumps(event(data=[1])).encode(), "data_not_object"),
        (json.dumps(event(depth=-1)).encode(), "bad_depth"),
        (json.dumps(event(depth=True)).encode(), "bad_depth"),
        (b"", "empty"),
        (json.dumps(event(entityId=7)).encode(), "missing_entityId"),
        (json.dumps(event(correlationId="")).encode(), "bad_correlationId"),
        (json.dumps(event(causationId=3)).encode(), "bad_causationId"),
        (b" " * (MAX_EVENT_BYTES + 1), "too_large"),
    ],
)
def test_bad_events_are_refused_with_a_reason(raw, reason):
    with pytest.raises(BadEvent) as info:
        parse_event(raw)
    assert info.value.reason == reason
