"""Runs of the caller's practice: pages (all, or of one rule) and one run with its action logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crmflow.crm.models import UUID_PATTERN
from crmflow.rules_repo import get_rule
from crmflow.statuses import RunStatus
from crmflow_api.deps import Db, PracticeId
from crmflow_api.errors import AUTH_ERRORS, NOT_FOUND, not_found, require_uuid
from crmflow_api.models import RunDetail, RunPage
from crmflow_api.runs_view import get_run, list_runs

router = APIRouter(prefix="/api", tags=["runs"], responses=AUTH_ERRORS)

Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("/automations/{rule_id}/runs", responses=NOT_FOUND)
def rule_runs(
    rule_id: str,
    practice_id: PracticeId,
    db: Db,
    status: RunStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RunPage:
    """Runs of one rule, newest first."""
    if get_rule(db, practice_id, require_uuid(rule_id, "rule")) is None:
        raise not_found("rule")
    items, total = list_runs(db, practice_id, rule_id=rule_id, status=status, limit=limit, offset=offset)
    return RunPage.model_validate({"items": items, "total": total, "limit": limit, "offset": offset})


@router.get("/runs")
def practice_runs(
    practice_id: PracticeId,
    db: Db,
    status: RunStatus | None = None,
    ruleId: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RunPage:
    """Runs of the caller's practice, newest first."""
    items, total = list_runs(db, practice_id, rule_id=ruleId, status=status, limit=limit, offset=offset)
    return RunPage.model_validate({"items": items, "total": total, "limit": limit, "offset": offset})


@router.get("/runs/{run_id}", responses=NOT_FOUND)
def read_run(run_id: str, practice_id: PracticeId, db: Db) -> RunDetail:
    """One run: evaluation trace, and every action attempt's log (args PHI-minimal)."""
    run = get_run(db, practice_id, require_uuid(run_id, "run"))
    if run is None:
        raise not_found("run")
    return RunDetail.model_validate(run)
