"""The caller's practice and its settings (SPEC section 8): time zone and quiet hours."""

from __future__ import annotations

from fastapi import APIRouter

from crmflow.practice_settings import get_practice, update_settings
from crmflow.validation import DomainValidationError
from crmflow_api.deps import Actor, Db, PracticeId
from crmflow_api.errors import AUTH_ERRORS, BAD_BODY, raise_field_errors
from crmflow_api.models import Practice, PracticeUpdate

router = APIRouter(prefix="/api/practice", tags=["practice"], responses=AUTH_ERRORS)


@router.get("")
def read_practice(practice_id: PracticeId, db: Db) -> Practice:
    return Practice.model_validate(get_practice(db, practice_id))


@router.patch("", responses=BAD_BODY)
def patch_practice(body: PracticeUpdate, practice_id: PracticeId, db: Db, actor: Actor) -> Practice:
    """Set the time zone (unknown names: 422 at ``timeZone``) and/or the quiet hours."""
    try:
        practice = update_settings(db, practice_id, body.model_dump(exclude_unset=True), actor=actor)
    except DomainValidationError as exc:
        raise_field_errors(exc.errors)
    return Practice.model_validate(practice)
