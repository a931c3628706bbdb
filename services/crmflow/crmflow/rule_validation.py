"""Validation of a whole rule (trigger, conditions, actions), shared by every writer of rules.

Locs are relative to the rule body (``("conditionsJson", "conditions", 0, "operator")``).
"""

from __future__ import annotations

from typing import Any

from crmflow.actions import validate_actions
from crmflow.conditions import validate_condition
from crmflow.triggers import TRIGGER_NAMES
from crmflow.validation import FieldError


def validate_rule(trigger: Any, conditions: Any, actions: Any) -> list[FieldError]:
    errors: list[FieldError] = []
    known_trigger = isinstance(trigger, str) and trigger in TRIGGER_NAMES
    if not known_trigger:
        errors.append(
            FieldError(
                ("triggerEvent",), f"unknown trigger event; one of {sorted(TRIGGER_NAMES)}", "unknown_trigger"
            )
        )
    errors += [FieldError(("conditionsJson", *e.loc), e.msg, e.type) for e in validate_condition(conditions)]
    errors += [
        FieldError(("actionsJson", *e.loc), e.msg, e.type)
        for e in validate_actions(actions, trigger if known_trigger else None)
    ]
    return errors
