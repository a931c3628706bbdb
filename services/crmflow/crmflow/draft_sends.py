"""Human approval (SPEC section 9): a person sends an existing draft.

:func:`send_draft` decides in the caller's transaction: consent and the address are checked (the
patient as they are now), then the draft's message is queued like an automated send
(``crmflow.deliveries.queue``) and the draft becomes ``sending``; the runner's delivery worker sends
it and sets ``sent`` or ``failed`` with the reason. Without consent or address the draft becomes
``failed`` at once (``no_consent`` / ``no_address``). Quiet hours and frequency caps are for
automated sends: an approved draft goes out when a person says so (it counts toward the caps).
A draft being sent or sent cannot be sent again; a failed one can (a new delivery, a new key).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, update

from crmflow import audit, deliveries
from crmflow.crm.entities import NotFound, get_patient
from crmflow.crm.serialize import DRAFT_FIELDS, to_json
from crmflow.db.tables import message_deliveries, message_drafts


class NotSendable(Exception):
    """The draft is being sent or was sent already."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the draft is {status}: it cannot be sent again")
        self.status = status


def send_draft(
    conn: Connection, practice_id: str, draft_id: str, *, actor: str = audit.CLI
) -> dict[str, Any]:
    """Queue draft ``draft_id`` for delivery; returns the draft (``sending`` or ``failed``). The
    approval is audited (``draft.send``: the channel and the outcome, never address or text)."""
    draft = _send(conn, practice_id, draft_id)
    audit.record(
        conn,
        practice_id=practice_id,
        actor=actor,
        action="draft.send",
        entity_type="draft",
        entity_id=draft_id,
        before=None,
        after={"channel": draft["channel"], "status": draft["status"], "error": draft["error"]},
    )
    return draft


def _send(conn: Connection, practice_id: str, draft_id: str) -> dict[str, Any]:
    row = (
        conn.execute(
            select(message_drafts)
            .where(message_drafts.c.id == draft_id, message_drafts.c.practice_id == practice_id)
            .with_for_update()
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("draft", draft_id)
    if row["status"] in ("sending", "sent"):
        raise NotSendable(row["status"])
    patient = get_patient(conn, practice_id, str(row["patient_id"]))
    _, reason = deliveries.recipient(patient, row["channel"])
    if reason is not None:
        return _set(conn, draft_id, status="failed", error=reason)
    sends = conn.execute(
        select(func.count()).select_from(message_deliveries).where(message_deliveries.c.draft_id == draft_id)
    ).scalar_one()
    deliveries.queue(
        conn,
        practice_id=practice_id,
        key=deliveries.draft_key(draft_id, int(sends) + 1),
        channel=row["channel"],
        message={"to": row["to_address"], "subject": row["subject"], "body": row["body"], "headers": {}},
        patient_id=str(row["patient_id"]),
        draft_id=draft_id,
    )
    return _set(conn, draft_id, status="sending", error=None)


def _set(conn: Connection, draft_id: str, **values: Any) -> dict[str, Any]:
    row = (
        conn.execute(
            update(message_drafts)
            .where(message_drafts.c.id == draft_id)
            .values(**values)
            .returning(message_drafts)
        )
        .mappings()
        .one()
    )
    return to_json(row, DRAFT_FIELDS)
