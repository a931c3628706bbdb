"""The Test button: a real outbox event through the real pipeline, with a bounded wait.

``POST /api/automations/test`` runs every matching rule of the caller's practice;
``POST /api/automations/{id}/test`` runs that rule only (the envelope's onlyRuleId, even when the
rule is disabled), on the trigger's sample data unless ``data`` is given.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from crmflow.crm.models import NoNul, storable_json_errors
from crmflow.rules_repo import get_rule
from crmflow.triggers import TRIGGERS, TriggerSpec
from crmflow.validation import FieldError
from crmflow_api.deps import AppSettings, Eng, PracticeIdNoTransaction
from crmflow_api.errors import AUTH_ERRORS, BAD_BODY, NOT_FOUND, not_found, raise_field_errors, require_uuid
from crmflow_api.models import PipelineTestResult
from crmflow_api.pipeline_wait import publish_test_event, wait_for_runs

router = APIRouter(prefix="/api/automations", tags=["test"], responses=AUTH_ERRORS)

MAX_WAIT_SECONDS = 30.0
WaitSeconds = Annotated[float | None, Field(None, ge=0, le=MAX_WAIT_SECONDS)]
RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": PipelineTestResult, "description": "The wait ended before every run was done"}
}


class TestEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eventName: Annotated[str, WithJsonSchema({"enum": sorted(TRIGGERS)})]
    entityType: str
    entityId: Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul] | None = None
    data: dict[str, Any]
    waitSeconds: WaitSeconds = None


class RuleTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] | None = None
    waitSeconds: WaitSeconds = None


def _entity_id(trigger: TriggerSpec, data: dict[str, Any]) -> str:
    """The entity's id from ``data`` when it carries one, else a fresh one."""
    entity = data.get(trigger.entity_type)
    candidate = entity.get("id") if isinstance(entity, dict) else None
    if isinstance(candidate, str) and 0 < len(candidate) <= 200:
        return candidate
    return str(uuid.uuid4())


async def _run(
    engine: Engine,
    response: Response,
    practice_id: str,
    trigger: TriggerSpec,
    entity_id: str,
    data: dict[str, Any],
    wait: float,
    only_rule_id: str | None = None,
) -> PipelineTestResult:
    event_id = await run_in_threadpool(
        publish_test_event, engine, practice_id, trigger.name, entity_id, data, only_rule_id
    )
    done, runs = await wait_for_runs(engine, practice_id, event_id, wait)
    if not done:
        response.status_code = status.HTTP_202_ACCEPTED
    return PipelineTestResult.model_validate({"eventId": event_id, "runs": runs})


@router.post("/test", responses={**RESPONSES, **BAD_BODY})
async def test_event(
    body: TestEvent,
    practice_id: PracticeIdNoTransaction,
    engine: Eng,
    settings: AppSettings,
    response: Response,
) -> PipelineTestResult:
    """Write a real outbox event for the caller's practice and wait (default 10 s) for its runs."""
    trigger = TRIGGERS.get(body.eventName)
    errors = []
    if trigger is None:
        errors.append(FieldError(("eventName",), "unknown event name", "unknown_trigger"))
    elif body.entityType != trigger.entity_type:
        errors.append(
            FieldError(("entityType",), f"{body.eventName} is about a {trigger.entity_type}", "value_error")
        )
    errors += storable_json_errors(body.data, ("data",))
    if errors or trigger is None:
        raise_field_errors(errors)
    wait = settings.test_wait_seconds if body.waitSeconds is None else body.waitSeconds
    entity_id = body.entityId or _entity_id(trigger, body.data)
    return await _run(engine, response, practice_id, trigger, entity_id, body.data, wait)


@router.post("/{rule_id}/test", responses={**RESPONSES, **NOT_FOUND, **BAD_BODY})
async def test_rule(
    rule_id: str,
    practice_id: PracticeIdNoTransaction,
    engine: Eng,
    settings: AppSettings,
    response: Response,
    body: RuleTest | None = None,
) -> PipelineTestResult:
    """The Test button: only this rule runs, on the trigger's sample data unless ``data`` is given."""
    rule = await run_in_threadpool(_rule, engine, practice_id, require_uuid(rule_id, "rule"))
    if rule is None:
        raise not_found("rule")
    body = body or RuleTest()
    errors = storable_json_errors(body.data, ("data",))
    if errors:
        raise_field_errors(errors)
    trigger = TRIGGERS[rule["triggerEvent"]]
    data = body.data if body.data is not None else trigger.sample_data()
    wait = settings.test_wait_seconds if body.waitSeconds is None else body.waitSeconds
    entity_id = _entity_id(trigger, data)
    return await _run(engine, response, practice_id, trigger, entity_id, data, wait, only_rule_id=rule["id"])


def _rule(engine: Engine, practice_id: str, rule_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        return get_rule(conn, practice_id, rule_id)
