"""Rules CRUD and dry-run (SPEC section 4). Every change reaches the evaluators through crm.rule."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from crmflow.conditions import explain, validate_condition
from crmflow.history_record import RestoreRequest, RuleVersion
from crmflow.rule_history import get_version, list_versions
from crmflow.rule_record import Rule
from crmflow.rule_validation import RuleCreate, RuleUpdate, null_errors, validate_rule
from crmflow.rules_repo import create_rule, delete_rule, get_rule, list_rules, restore_rule, update_rule
from crmflow.triggers import TRIGGER_NAMES
from crmflow.validation import FieldError
from crmflow_api.deps import Actor, AppSettings, Db, PracticeId
from crmflow_api.errors import AUTH_ERRORS, BAD_BODY, NOT_FOUND, not_found, raise_field_errors, require_uuid
from crmflow_api.models import DryRun, DryRunResult, RulePage
from crmflow_api.runs_view import rule_stats

router = APIRouter(prefix="/api/automations", tags=["automations"], responses=AUTH_ERRORS)


@router.post("", status_code=status.HTTP_201_CREATED, responses=BAD_BODY)
def post_rule(body: RuleCreate, practice_id: PracticeId, db: Db, settings: AppSettings, actor: Actor) -> Rule:
    errors = validate_rule(
        body.triggerEvent,
        body.conditionsJson,
        body.actionsJson,
        settings.patient_field_allowlist,
        body.cancelOn,
        body.enrollment,
        body.paused,
        webhook_allowed_networks=settings.webhook_networks,
    )
    if errors:
        raise_field_errors(errors)
    return Rule(**create_rule(db, practice_id, body.model_dump(), actor=actor))


@router.get("")
def get_rules(
    practice_id: PracticeId,
    db: Db,
    triggerEvent: str | None = None,
    enabled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RulePage:
    """Rules of the caller's practice, newest first, each with its run stats."""
    if triggerEvent is not None and triggerEvent not in TRIGGER_NAMES:
        raise_field_errors(
            [FieldError(("triggerEvent",), "unknown trigger event", "unknown_trigger")], prefix=("query",)
        )
    items, total = list_rules(
        db, practice_id, trigger=triggerEvent, enabled=enabled, limit=limit, offset=offset
    )
    stats = rule_stats(db, practice_id, [r["id"] for r in items])
    return RulePage.model_validate(
        {
            "items": [{**r, "stats": stats[r["id"]]} for r in items],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@router.post("/dry-run", responses=BAD_BODY)
def dry_run(body: DryRun, practice_id: PracticeId) -> DryRunResult:
    """Evaluate conditions against ``data`` with the evaluator's own code: no side effects."""
    errors = validate_condition(body.conditionsJson)
    if errors:
        raise_field_errors(errors, prefix=("body", "conditionsJson"))
    return DryRunResult(**explain(body.conditionsJson, body.data))


@router.get("/{rule_id}", responses=NOT_FOUND)
def read_rule(rule_id: str, practice_id: PracticeId, db: Db) -> Rule:
    rule = get_rule(db, practice_id, require_uuid(rule_id, "rule"))
    if rule is None:
        raise not_found("rule")
    return Rule(**rule)


@router.patch("/{rule_id}", responses={**NOT_FOUND, **BAD_BODY})
def patch_rule(
    rule_id: str, body: RuleUpdate, practice_id: PracticeId, db: Db, settings: AppSettings, actor: Actor
) -> Rule:
    """Partial update; any change bumps ``version``. The rule stays locked from the read to the
    update, so two PATCHes cannot each be validated against the state the other replaces.
    ``paused: null`` releases the rule's held runs (in this transaction): they run in order."""
    current = get_rule(db, practice_id, require_uuid(rule_id, "rule"), lock=True)
    if current is None:
        raise not_found("rule")
    changes = body.model_dump(exclude_unset=True)
    errors = null_errors(changes)
    if errors:
        raise_field_errors(errors)
    merged = {**current, **changes}
    errors = validate_rule(
        merged["triggerEvent"],
        merged["conditionsJson"],
        merged["actionsJson"],
        settings.patient_field_allowlist,
        merged.get("cancelOn"),
        merged.get("enrollment"),
        merged.get("paused"),
        webhook_allowed_networks=settings.webhook_networks,
    )
    if errors:
        raise_field_errors(errors)
    updated = update_rule(db, practice_id, rule_id, changes, actor=actor)
    if updated is None:
        raise not_found("rule")
    return Rule(**updated)


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def remove_rule(rule_id: str, practice_id: PracticeId, db: Db, actor: Actor) -> Response:
    if not delete_rule(db, practice_id, require_uuid(rule_id, "rule"), actor=actor):
        raise not_found("rule")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{rule_id}/versions", responses=NOT_FOUND)
def rule_versions(rule_id: str, practice_id: PracticeId, db: Db) -> list[RuleVersion]:
    """Every version of the rule, newest first, the current one included (also of a deleted
    rule: its last version is the deletion)."""
    versions = list_versions(db, practice_id, require_uuid(rule_id, "rule"))
    if not versions:
        raise not_found("rule")
    return [RuleVersion.model_validate(v) for v in versions]


@router.post("/{rule_id}/restore", responses={**NOT_FOUND, **BAD_BODY})
def restore_version(
    rule_id: str, body: RestoreRequest, practice_id: PracticeId, db: Db, settings: AppSettings, actor: Actor
) -> Rule:
    """Make version ``version``'s definition the rule's newest version (a new number), announced to
    the evaluators like any change. A deleted rule comes back. 422 at ``version`` when there is no
    such version, or its definition is no longer valid (e.g. an action type since removed)."""
    if get_rule(db, practice_id, require_uuid(rule_id, "rule"), lock=True, deleted=True) is None:
        raise not_found("rule")
    found = get_version(db, practice_id, rule_id, body.version)
    if found is None:
        raise_field_errors(
            [FieldError(("version",), f"rule has no version {body.version}", "unknown_version")]
        )
    definition = found["definition"]
    errors = validate_rule(
        definition["triggerEvent"],
        definition["conditionsJson"],
        definition["actionsJson"],
        settings.patient_field_allowlist,
        definition.get("cancelOn"),
    )
    if errors:
        raise_field_errors(
            [
                FieldError(
                    ("version",),
                    f"version {body.version} is no longer valid: {'.'.join(map(str, e.loc))}: {e.msg}",
                    e.type,
                )
                for e in errors
            ]
        )
    restored = restore_rule(db, practice_id, rule_id, definition, restored_from=body.version, actor=actor)
    if restored is None:
        raise not_found("rule")
    return Rule(**restored)
