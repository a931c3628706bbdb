"""Messages that leave the system (SPEC section 9): idempotency keys, consent, and queueing a
delivery. Shared by the action-runner (automated sends) and the rules-api (approved drafts).

A delivery is queued by inserting a ``message_deliveries`` row in the caller's transaction (the
same one as the run's or the draft's state), and the runner's delivery worker sends it. The row's
``idempotency_key`` is unique, so one (run, action index) or one approval queues one delivery,
and the provider sees that key on every attempt (e-mail ``Message-ID``, webhook ``webhook-id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert

from crmflow.db.tables import message_deliveries

NO_CONSENT: Final = "no_consent"
NO_ADDRESS: Final = "no_address"
CAPPED: Final = "capped"

_ADDRESS: Final = {"email": "email", "sms": "phone"}
_CONSENT: Final = {"email": "emailOptIn", "sms": "smsOptIn"}


def run_key(run_id: str, action_index: int) -> str:
    """The idempotency key of action ``action_index`` of run ``run_id``."""
    return f"{run_id}.{action_index}"


def draft_key(draft_id: str, send_number: int) -> str:
    """The idempotency key of the ``send_number``-th approval of a draft (a failed one may be
    sent again: a new key, a new delivery)."""
    return f"draft-{draft_id}.{send_number}"


def recipient(patient: Mapping[str, Any], channel: str) -> tuple[str | None, str | None]:
    """(address, None) when ``patient`` (JSON form) may be sent a message on ``channel``, else
    (None, reason): ``no_consent`` without opt-in, ``no_address`` without an address."""
    if patient.get(_CONSENT[channel]) is not True:
        return None, NO_CONSENT
    address = patient.get(_ADDRESS[channel])
    if not address:
        return None, NO_ADDRESS
    return str(address), None


def queue(
    conn: Connection,
    *,
    practice_id: str,
    key: str,
    channel: str,
    message: Mapping[str, Any],
    patient_id: str | None = None,
    run_id: str | None = None,
    action_index: int | None = None,
    action_type: str | None = None,
    draft_id: str | None = None,
    command: Mapping[str, Any] | None = None,
    command_key: str | None = None,
    max_attempts: int = 5,
) -> str | None:
    """Queue one delivery; returns its id, or None when ``key`` was queued already."""
    statement = (
        insert(message_deliveries)
        .values(
            practice_id=practice_id,
            idempotency_key=key,
            channel=channel,
            patient_id=patient_id,
            run_id=run_id,
            action_index=action_index,
            action_type=action_type,
            draft_id=draft_id,
            message=dict(message),
            command=None if command is None else dict(command),
            command_key=command_key,
            max_attempts=max_attempts,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(message_deliveries.c.id)
    )
    inserted = conn.execute(statement).scalar_one_or_none()
    return None if inserted is None else str(inserted)
