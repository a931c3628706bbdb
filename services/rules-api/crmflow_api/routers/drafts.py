"""Human approval of drafts (SPEC section 9): ``POST /api/drafts/{id}/send``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from crmflow.crm.models import Draft
from crmflow.draft_sends import NotSendable, send_draft
from crmflow_api.deps import Actor, Db, PracticeId
from crmflow_api.errors import AUTH_ERRORS, NOT_FOUND, ErrorOut, require_uuid

router = APIRouter(prefix="/api", tags=["crm"], responses={**AUTH_ERRORS, **NOT_FOUND})


@router.post(
    "/drafts/{draft_id}/send",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Draft,
    responses={409: {"model": ErrorOut, "description": "The draft is being sent or was sent"}},
)
def post_draft_send(draft_id: str, practice_id: PracticeId, db: Db, actor: Actor) -> dict:
    """Send the draft (consent applies): 202 with the draft, ``sending`` while the runner delivers
    it (then ``sent`` or ``failed`` with ``error``), or ``failed`` at once without consent or
    address (``no_consent`` / ``no_address``)."""
    require_uuid(draft_id, "draft")
    try:
        return send_draft(db, practice_id, draft_id, actor=actor)
    except NotSendable as exc:
        raise HTTPException(409, str(exc)) from None
