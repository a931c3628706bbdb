"""The demo's rules are written through the library (no API in between): they must be rules the
API would accept, or `make up` would seed a rule the evaluator cannot run."""

from __future__ import annotations

from typing import Any

import pytest

from crmflow.demo import DEMO_RULES
from crmflow.rule_validation import RuleCreate, validate_rule


@pytest.mark.parametrize("rule", DEMO_RULES, ids=lambda r: str(r["name"]))
def test_each_demo_rule_is_a_valid_rule(rule: dict[str, Any]) -> None:
    RuleCreate.model_validate(rule)
    errors = validate_rule(
        rule["triggerEvent"], rule.get("conditionsJson"), rule["actionsJson"], [], rule.get("cancelOn")
    )
    assert errors == []


def test_the_demo_reminder_is_due_a_day_before_and_cancelled_with_its_appointment() -> None:
    reminder = DEMO_RULES[1]
    delay = reminder["actionsJson"][0]
    assert delay == {"type": "delay_until", "args": {"at": "{appointment.startsAt}", "offsetSeconds": -86400}}
    [cancel] = reminder["cancelOn"]
    assert (cancel["eventName"], cancel["match"]) == ("crm/appointment.updated", "appointment.id")
    assert cancel["conditionsJson"]["value"] == "cancelled"
