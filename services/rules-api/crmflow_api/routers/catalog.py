"""The registry the evaluator and the runner share: triggers, operators, action types, limits.

The web page builds its forms from it, so it can only offer what the pipeline can run.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from crmflow.actions import ACTION_TYPES
from crmflow.cancel_on import MAX_ENTRIES as MAX_CANCEL_ON
from crmflow.conditions import MAX_DEPTH
from crmflow.conditions.operators import LEAF_OPERATORS
from crmflow.rule_validation import GROUP_OPERATOR_NAMES, LEAF_OPERATOR_NAMES
from crmflow.triggers import TRIGGERS
from crmflow_api.deps import AppSettings, PracticeId
from crmflow_api.errors import AUTH_ERRORS

router = APIRouter(prefix="/api", tags=["catalog"], responses=AUTH_ERRORS)


class TriggerOut(BaseModel):
    name: str
    entityType: str
    description: str
    sampleData: dict[str, Any]
    fieldPaths: list[str]


class Operators(BaseModel):
    leaf: list[str]
    group: list[str]
    noValue: list[str] = Field(description="Leaf operators that take no value (a value is ignored).")


class ActionOut(BaseModel):
    type: str
    argsSchema: dict[str, Any]


class Limits(BaseModel):
    maxConditionDepth: int
    maxBodyBytes: int
    maxCancelOn: int = Field(description="At most this many cancelOn entries per rule.")


class Catalog(BaseModel):
    triggers: list[TriggerOut]
    operators: Operators
    actions: list[ActionOut]
    limits: Limits


@router.get("/catalog")
def catalog(practice_id: PracticeId, settings: AppSettings) -> Catalog:
    return _catalog(settings.max_body_bytes)


@cache
def _catalog(max_body_bytes: int) -> Catalog:
    """Built once per process: the registry is fixed at import (~3 ms of JSON-schema work a call)."""
    return Catalog(
        triggers=[
            TriggerOut(
                name=t.name,
                entityType=t.entity_type,
                description=t.description,
                sampleData=t.sample_data(),
                fieldPaths=t.field_paths(),
            )
            for t in TRIGGERS.values()
        ],
        operators=Operators(
            leaf=LEAF_OPERATOR_NAMES,
            group=GROUP_OPERATOR_NAMES,
            noValue=[name for name in LEAF_OPERATOR_NAMES if not LEAF_OPERATORS[name].needs_value],
        ),
        actions=[
            ActionOut(type=name, argsSchema=model.model_json_schema()) for name, model in ACTION_TYPES.items()
        ],
        limits=Limits(maxConditionDepth=MAX_DEPTH, maxBodyBytes=max_body_bytes, maxCancelOn=MAX_CANCEL_ON),
    )
