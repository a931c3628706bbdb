"""The trace of one event: outbox row -> Kafka record -> runs -> actions -> caused events."""

from __future__ import annotations

from fastapi import APIRouter

from crmflow_api.deps import Db, PracticeId
from crmflow_api.errors import AUTH_ERRORS, NOT_FOUND, not_found, require_uuid
from crmflow_api.models import EventTrace
from crmflow_api.runs_view import event_trace

router = APIRouter(prefix="/api/events", tags=["runs"], responses={**AUTH_ERRORS, **NOT_FOUND})


@router.get("/{event_id}")
def read_event(event_id: str, practice_id: PracticeId, db: Db) -> EventTrace:
    trace = event_trace(db, practice_id, require_uuid(event_id, "event"))
    if trace is None:
        raise not_found("event")
    return EventTrace.model_validate(trace)
