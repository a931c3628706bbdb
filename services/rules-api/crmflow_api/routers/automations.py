"""Rules CRUD (SPEC section 4). Every change reaches the evaluators through crm.rule."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crmflow.rule_validation import validate_rule
from crmflow.rules_repo import create_rule, delete_rule, get_rule, list_rules, update_rule
from crmflow.validation import FieldError
from crmflow_api.deps import Db, PracticeId
from crmflow_api.errors import not_found, raise_field_errors, require_uuid

router = APIRouter(prefix="/api/automations", tags=["automations"])
RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: RuleName
    enabled: bool = True
    triggerEvent: str
    conditionsJson: dict[str, Any] | None = None
    actionsJson: list[Any] = Field(min_length=1)


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: RuleName | None = None
    enabled: bool | None = None
    triggerEvent: str | None = None
    conditionsJson: dict[str, Any] | None = None
    actionsJson: list[Any] | None = Field(None, min_length=1)


class RulePage(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


@router.post("", status_code=status.HTTP_201_CREATED)
def post_rule(body: RuleCreate, practice_id: PracticeId, db: Db) -> dict:
    errors = validate_rule(body.triggerEvent, body.conditionsJson, body.actionsJson)
    if errors:
        raise_field_errors(errors)
    return create_rule(db, practice_id, body.model_dump())


@router.get("")
def get_rules(
    practice_id: PracticeId,
    db: Db,
    triggerEvent: str | None = None,
    enabled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RulePage:
    items, total = list_rules(
        db, practice_id, trigger=triggerEvent, enabled=enabled, limit=limit, offset=offset
    )
    return RulePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{rule_id}")
def read_rule(rule_id: str, practice_id: PracticeId, db: Db) -> dict:
    rule = get_rule(db, practice_id, require_uuid(rule_id, "rule"))
    if rule is None:
        raise not_found("rule")
    return rule


@router.patch("/{rule_id}")
def patch_rule(rule_id: str, body: RuleUpdate, practice_id: PracticeId, db: Db) -> dict:
    current = read_rule(rule_id, practice_id, db)
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "enabled", "triggerEvent", "actionsJson"):
        if required in changes and changes[required] is None:
            raise_field_errors([_null(required)])
    merged = {**current, **changes}
    errors = validate_rule(merged["triggerEvent"], merged["conditionsJson"], merged["actionsJson"])
    if errors:
        raise_field_errors(errors)
    updated = update_rule(db, practice_id, rule_id, changes)
    if updated is None:
        raise not_found("rule")
    return updated


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_rule(rule_id: str, practice_id: PracticeId, db: Db) -> Response:
    if not delete_rule(db, practice_id, require_uuid(rule_id, "rule")):
        raise not_found("rule")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _null(field: str) -> FieldError:
    return FieldError((field,), f"{field} cannot be null", "value_error")
