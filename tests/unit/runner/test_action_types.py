"""An action type cannot be half-added: what rules may hold is exactly what the runner executes."""

from __future__ import annotations

from crmflow.actions import ACTION_TYPES, DELAY_TYPES, WAIT_TYPES, validate_action
from crmflow.rule_validation import ACTIONS_SCHEMA
from crmflow.settings import DEFAULT_PATIENT_FIELD_ALLOWLIST
from crmflow_runner.handlers import build_handlers
from crmflow_runner.sends import BUILDERS


def accepted_by_rule_validation(action_type: str) -> bool:
    codes = {e.type for e in validate_action({"type": action_type, "args": {}})}
    return "unknown_action_type" not in codes


def test_the_runner_executes_exactly_the_action_types_rules_may_hold() -> None:
    executed = set(build_handlers(DEFAULT_PATIENT_FIELD_ALLOWLIST)) | DELAY_TYPES | WAIT_TYPES | set(BUILDERS)
    assert executed == set(ACTION_TYPES)
    assert all(accepted_by_rule_validation(t) for t in executed)
    assert not accepted_by_rule_validation("send_fax")


def test_the_rule_schema_offers_exactly_those_types() -> None:
    offered = {item["properties"]["type"]["const"] for item in ACTIONS_SCHEMA["items"]["anyOf"]}
    assert offered == set(ACTION_TYPES)
