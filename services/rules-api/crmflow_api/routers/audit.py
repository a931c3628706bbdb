"""The audit log of the caller's practice (SPEC section 10): read only, newest first, paged.
No route changes or deletes an entry (the table refuses it too: migration 0011)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from crmflow.audit import list_entries
from crmflow.history_record import AuditPage
from crmflow_api.deps import Db, PracticeId
from crmflow_api.errors import AUTH_ERRORS

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=AUTH_ERRORS)


@router.get("")
def read_audit(
    practice_id: PracticeId,
    db: Db,
    entityType: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^[a-z_]+$",
            description="Only entries of this entity type: rule, practice, api_key, dead_letter, ...",
        ),
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Only entries at or after this ISO-8601 time (with offset).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditPage:
    """Who changed what in the practice's automation settings, newest first."""
    items, total = list_entries(
        db, practice_id, entity_type=entityType, since=since, limit=limit, offset=offset
    )
    return AuditPage.model_validate({"items": items, "total": total, "limit": limit, "offset": offset})
