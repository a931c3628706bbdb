"""Webhooks (SPEC section 9): the practice's signing secret, and the dry run of a ``send_webhook``.

``POST /api/practice/webhook-secret`` rotates the secret and shows it once; ``GET`` says whether
one exists (never the secret). ``POST /api/webhooks/test`` renders and signs the request a
``send_webhook`` action would make for a sample event and returns it WITHOUT sending it: the web
page's "send test request" button. Nothing here logs a secret, a URL or a body.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from crmflow.actions import SEND_WEBHOOK, validate_action
from crmflow.templates import TemplateSyntaxError, UnresolvedPlaceholder, build_context, render_args
from crmflow.triggers import TRIGGERS
from crmflow.validation import FieldError
from crmflow.webhook_request import body_text, signed_request
from crmflow.webhook_secrets import SecretBox, SecretUnavailable, rotate, secret_status, signing_keys
from crmflow_api.deps import Actor, AppSettings, Db, PracticeId
from crmflow_api.errors import AUTH_ERRORS, BAD_BODY, raise_field_errors

router = APIRouter(prefix="/api", tags=["webhooks"], responses=AUTH_ERRORS)


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revokePrevious: bool = Field(
        False,
        description="End every earlier secret at once (a leaked secret) instead of letting the "
        "previous one sign beside the new one for CRMFLOW_WEBHOOK_SECRET_GRACE_SECONDS.",
    )


class SecretStatus(BaseModel):
    configured: bool
    createdAt: str | None = Field(description="When the current secret was made.")
    previousSignsUntil: str | None = Field(
        description="The previous secret signs beside the current one until then (grace period)."
    )


class NewSecret(SecretStatus):
    secret: str = Field(description="whsec_<base64>: shown this once; store it in the receiver.")


@router.get("/practice/webhook-secret")
def read_secret_status(practice_id: PracticeId, db: Db) -> SecretStatus:
    return SecretStatus.model_validate(secret_status(db, practice_id))


@router.post("/practice/webhook-secret", status_code=status.HTTP_201_CREATED, responses=BAD_BODY)
def rotate_secret(
    practice_id: PracticeId,
    db: Db,
    settings: AppSettings,
    actor: Actor,
    body: SecretRotation | None = None,
) -> NewSecret:
    """A new signing secret, shown once. Until it has been stored by the receiver, the previous
    one keeps signing too (a second signature) for the grace period, unless ``revokePrevious``."""
    secret = rotate(
        db,
        practice_id,
        SecretBox(settings.secret_key),
        grace_seconds=settings.webhook_secret_grace_seconds,
        revoke_previous=body is not None and body.revokePrevious,
        actor=actor,
    )
    return NewSecret.model_validate({"secret": secret, **secret_status(db, practice_id)})


class WebhookTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="As in the action's args (placeholders allowed).")
    body: Any = Field(None, description="As in the action's args; absent: the event envelope.")
    headers: Any = Field(None, description="As in the action's args.")
    eventName: str = Field("crm/patient.created", description="The trigger whose sample event is used.")
    data: dict[str, Any] | None = Field(None, description="Event data; absent: the trigger's sample.")


class SignedRequestOut(BaseModel):
    method: str
    url: str
    headers: dict[str, str]
    body: str = Field(description="The exact bytes that would be sent (UTF-8 JSON).")
    sent: bool = Field(False, description="Always false: a dry run never sends.")


@router.post("/webhooks/test", responses=BAD_BODY)
def test_webhook(
    body: WebhookTest, practice_id: PracticeId, db: Db, settings: AppSettings
) -> SignedRequestOut:
    """The signed request a ``send_webhook`` action would make for a sample event, NOT sent."""
    trigger = TRIGGERS.get(body.eventName)
    if trigger is None:
        raise_field_errors([FieldError(("eventName",), "unknown trigger event", "unknown_trigger")])
    args = {
        name: value
        for name, value in (("url", body.url), ("body", body.body), ("headers", body.headers))
        if value is not None
    }
    errors = validate_action(
        {"type": SEND_WEBHOOK, "args": args},
        body.eventName,
        webhook_allowed_networks=settings.webhook_networks,
    )
    if errors:
        raise_field_errors([FieldError(e.loc[1:], e.msg, e.type) for e in errors])
    event = _sample_event(
        practice_id, body.eventName, trigger.entity_type, body.data or trigger.sample_data()
    )
    try:
        rendered = render_args(args, build_context(event))
    except (UnresolvedPlaceholder, TemplateSyntaxError) as exc:
        raise_field_errors([FieldError(("data",), str(exc), "unresolved_placeholder")])
    try:
        keys = signing_keys(db, practice_id, SecretBox(settings.secret_key))
    except SecretUnavailable as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    request = signed_request(
        rendered["url"],
        body_text(rendered.get("body"), event),
        rendered.get("headers"),
        keys,
        f"msg_dryrun_{uuid.uuid4().hex}",
        int(time.time()),
    )
    return SignedRequestOut(**request.as_json())


def _sample_event(practice_id: str, name: str, entity_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """An envelope like the runner's (SPEC section 3) around ``data``, with made-up ids."""
    entity = data.get(entity_type)
    entity_id = entity.get("id") if isinstance(entity, dict) else None
    event_id = str(uuid.uuid4())
    return {
        "id": event_id,
        "practiceId": practice_id,
        "name": name,
        "entityType": entity_type,
        "entityId": str(entity_id or uuid.uuid4()),
        "occurredAt": datetime.now(UTC).isoformat(),
        "data": data,
        "correlationId": event_id,
        "causationId": None,
        "depth": 0,
    }
