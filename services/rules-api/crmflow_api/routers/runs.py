"""Runs of the caller's practice: pages (all, or of one rule) and one run with its action logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import status as http_status

from crmflow.bulk import CANCELLABLE, RETRYABLE, create_operation, get_operation
from crmflow.crm.models import UUID_PATTERN
from crmflow.rules_repo import get_rule
from crmflow.statuses import RunStatus
from crmflow.validation import FieldError
from crmflow_api.deps import Actor, Db, PracticeId
from crmflow_api.errors import AUTH_ERRORS, BAD_BODY, NOT_FOUND, not_found, raise_field_errors, require_uuid
from crmflow_api.models import BulkOperation, BulkRequest, RunDetail, RunPage
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


@router.post("/runs/bulk", status_code=http_status.HTTP_202_ACCEPTED, responses=BAD_BODY)
def bulk_runs(body: BulkRequest, practice_id: PracticeId, db: Db, actor: Actor) -> BulkOperation:
    """Cancel (waiting and held runs) or retry (failed runs, from the failed action) every run of
    the caller's practice matching ``filter``, in the background; ``GET /api/runs/bulk/{id}``
    shows the progress. Idempotent: the same request again changes nothing more."""
    applies = CANCELLABLE if body.action == "cancel" else RETRYABLE
    if body.filter.status is not None and body.filter.status not in applies:
        message = f"{body.action} applies to runs {' or '.join(applies)}"
        raise_field_errors([FieldError(("filter", "status"), message, "bulk_status")])
    since, until = body.filter.since, body.filter.until
    if since is not None and until is not None and since >= until:
        raise_field_errors([FieldError(("filter", "until"), "until must be after since", "bulk_range")])
    run_filter = body.filter.model_dump(mode="json", exclude_none=True)
    operation = create_operation(db, practice_id, body.action, run_filter, actor=actor)
    return BulkOperation.model_validate(operation)


@router.get("/runs/bulk/{operation_id}", responses=NOT_FOUND)
def read_bulk_operation(operation_id: str, practice_id: PracticeId, db: Db) -> BulkOperation:
    """A bulk operation of the caller's practice and its progress."""
    operation = get_operation(db, practice_id, require_uuid(operation_id, "bulk operation"))
    if operation is None:
        raise not_found("bulk operation")
    return BulkOperation.model_validate(operation)


@router.get("/runs/{run_id}", responses=NOT_FOUND)
def read_run(run_id: str, practice_id: PracticeId, db: Db) -> RunDetail:
    """One run: evaluation trace, and every action attempt's log (args PHI-minimal)."""
    run = get_run(db, practice_id, require_uuid(run_id, "run"))
    if run is None:
        raise not_found("run")
    return RunDetail.model_validate(run)
