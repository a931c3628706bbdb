"""A rule's input models and the validation of a whole rule, shared by every writer of rules.

The models check shape (unknown fields refused); :func:`validate_rule` checks meaning against the
one registry the evaluator and the runner use (triggers, operators, action types), so nothing is
accepted that they cannot run. Locs are relative to the rule body
(``("conditionsJson", "conditions", 0, "operator")``). The JSON Schemas of ``conditionsJson`` and
``actionsJson`` are built from that same registry (documentation of what validation enforces).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from crmflow.actions import ACTION_TYPES, MAX_ACTIONS, validate_actions
from crmflow.cancel_on import CANCEL_ON_SCHEMA, cancel_on_errors
from crmflow.conditions import MAX_DEPTH, nodes, validate_condition
from crmflow.conditions.operators import LEAF_OPERATORS
from crmflow.crm.models import NoNul, storable_json_errors
from crmflow.enrollment import ENROLLMENT_SCHEMA, enrollment_errors
from crmflow.pause import PAUSED_SCHEMA, paused_errors
from crmflow.triggers import TRIGGER_NAMES, TRIGGERS
from crmflow.validation import FieldError
from crmflow.webhook_policy import IPNetwork

LEAF_OPERATOR_NAMES: Final[list[str]] = list(LEAF_OPERATORS)
GROUP_OPERATOR_NAMES: Final[list[str]] = list(nodes.GROUP_OPERATOR_NAMES)

CONDITION_SCHEMA: Final[dict[str, Any]] = {
    "description": "A leaf {field, operator, value} or a group {operator: and|or|not, conditions: [...]}"
    f" nested freely (at most {MAX_DEPTH} levels); null = always matches.",
    "anyOf": [
        {
            "type": "object",
            "properties": {
                "field": {"type": "string", "description": "Dotted path into the event data."},
                "operator": {"enum": LEAF_OPERATOR_NAMES},
                "value": {},
            },
            "required": ["field", "operator"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "operator": {"enum": GROUP_OPERATOR_NAMES},
                "conditions": {"type": "array", "items": {"type": "object"}},
                "condition": {"type": "object", "description": "'not' only: the negated condition."},
            },
            "required": ["operator"],
            "additionalProperties": False,
        },
        {"type": "null"},
    ],
}

ACTIONS_SCHEMA: Final[dict[str, Any]] = {
    "description": "Ordered actions; string args may hold {placeholders} of the trigger's event.",
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_ACTIONS,
    "items": {
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    "type": {"const": name},
                    "args": model.model_json_schema(),
                    "when": {
                        **CONDITION_SCHEMA,
                        "description": "Run the action only when this condition holds on the event "
                        "and waitedEvent (SPEC section 13); false: logged skipped (when_false).",
                    },
                },
                "required": ["type", "args"],
                "additionalProperties": False,
            }
            for name, model in ACTION_TYPES.items()
        ]
    },
}

RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul]
TriggerName = Annotated[str, WithJsonSchema({"enum": sorted(TRIGGERS)})]
Conditions = Annotated[dict[str, Any] | None, WithJsonSchema(CONDITION_SCHEMA)]
Actions = Annotated[list[Any], WithJsonSchema(ACTIONS_SCHEMA)]
CancelOn = Annotated[list[Any] | None, WithJsonSchema(CANCEL_ON_SCHEMA)]
Enrollment = Annotated[dict[str, Any] | None, WithJsonSchema(ENROLLMENT_SCHEMA)]
Paused = Annotated[Literal["hold", "skip"] | None, WithJsonSchema(PAUSED_SCHEMA)]


class RuleCreate(BaseModel):
    """Body of ``POST /api/automations``."""

    model_config = ConfigDict(extra="forbid", title="RuleCreate")

    name: RuleName
    enabled: bool = True
    triggerEvent: TriggerName
    conditionsJson: Conditions = None
    actionsJson: Actions = Field(min_length=1)
    cancelOn: CancelOn = None
    enrollment: Enrollment = None
    paused: Paused = None


class RuleUpdate(BaseModel):
    """Body of ``PATCH /api/automations/{id}``: any subset of the editable fields."""

    model_config = ConfigDict(extra="forbid", title="RuleUpdate")

    name: RuleName | None = None
    enabled: bool | None = None
    triggerEvent: TriggerName | None = None
    conditionsJson: Conditions = None
    actionsJson: Annotated[list[Any] | None, WithJsonSchema(ACTIONS_SCHEMA)] = Field(None, min_length=1)
    cancelOn: CancelOn = None
    enrollment: Enrollment = None
    paused: Paused = None


NOT_NULL: Final = ("name", "enabled", "triggerEvent", "actionsJson")
"""Fields a PATCH may omit but not set to null (conditionsJson null = always matches)."""


def null_errors(changes: dict[str, Any]) -> list[FieldError]:
    return [
        FieldError((name,), f"{name} cannot be null", "value_error")
        for name in NOT_NULL
        if name in changes and changes[name] is None
    ]


def validate_rule(
    trigger: Any,
    conditions: Any,
    actions: Any,
    patient_field_allowlist: Sequence[str],
    cancel_on: Any = None,
    enrollment: Any = None,
    paused: Any = None,
    webhook_allowed_networks: Sequence[IPNetwork] = (),
) -> list[FieldError]:
    """Every problem of a rule as it would be saved; ``update_patient_fields`` is checked against
    the runner's allowlist (the same setting), so a rule is refused rather than failing its runs."""
    errors: list[FieldError] = []
    known_trigger = isinstance(trigger, str) and trigger in TRIGGER_NAMES
    if not known_trigger:
        errors.append(
            FieldError(
                ("triggerEvent",), f"unknown trigger event; one of {sorted(TRIGGER_NAMES)}", "unknown_trigger"
            )
        )
    errors += storable_json_errors(conditions, ("conditionsJson",))
    errors += storable_json_errors(actions, ("actionsJson",))
    errors += storable_json_errors(cancel_on, ("cancelOn",))
    errors += [e.with_prefix("conditionsJson") for e in validate_condition(conditions)]
    errors += [
        e.with_prefix("actionsJson")
        for e in validate_actions(
            actions,
            trigger if known_trigger else None,
            patient_field_allowlist=patient_field_allowlist,
            webhook_allowed_networks=webhook_allowed_networks,
        )
    ]
    errors += [
        e.with_prefix("cancelOn") for e in cancel_on_errors(cancel_on, trigger if known_trigger else None)
    ]
    errors += storable_json_errors(enrollment, ("enrollment",))
    errors += [
        e.with_prefix("enrollment") for e in enrollment_errors(enrollment, trigger if known_trigger else None)
    ]
    errors += [e.with_prefix("paused") for e in paused_errors(paused)]
    return errors
