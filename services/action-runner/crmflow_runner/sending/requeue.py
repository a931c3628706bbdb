"""Replaying a dead-lettered delivery (a ``redeliver`` command, SPEC section 9): the delivery is
queued again with its idempotency key and its attempts from 0, and its run waits for it again.

Only a delivery that failed after its last attempt (it kept its message) is queued again, so a
replayed letter repeated, or one of a delivery already queued again, does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

from crmflow.commands import RedeliverCommandDict
from crmflow.crm.models import is_uuid
from crmflow.statuses import DeliveryStatus, ResumeStatus, RunStatus
from crmflow_runner.sends import PARKED

REQUEUE = text(
    f"""
    UPDATE message_deliveries SET status = '{DeliveryStatus.PENDING}', attempts = 0, error = NULL,
           next_attempt_at = clock_timestamp(), updated_at = clock_timestamp(), finished_at = NULL
    WHERE id = CAST(:id AS uuid) AND practice_id = CAST(:practice_id AS uuid)
      AND status = '{DeliveryStatus.FAILED}' AND message IS NOT NULL
    RETURNING run_id, action_index, draft_id
    """
)
_RUN_WAITS = text(
    f"""
    UPDATE automation_runs SET status = '{RunStatus.WAITING}', error = NULL, finished_at = NULL,
           updated_at = clock_timestamp()
    WHERE id = :run_id AND status = '{RunStatus.FAILED}'
    RETURNING id
    """
)
_REST_PARKED = text(
    f"""
    UPDATE scheduled_resumes SET status = '{ResumeStatus.PENDING}', due_at = :parked, resumed_at = NULL
    WHERE run_id = :run_id AND action_index = :action_index AND status = '{ResumeStatus.CANCELLED}'
    """
)
_DRAFT_SENDING = text("UPDATE message_drafts SET status = 'sending', error = NULL WHERE id = :draft_id")


def requeue(conn: Connection, commands: Sequence[RedeliverCommandDict]) -> int:
    """Queue the commands' deliveries again; returns how many were."""
    count = 0
    for c in commands:
        if not is_uuid(c["deliveryId"]) or not is_uuid(c["practiceId"]):
            continue
        row = conn.execute(REQUEUE, {"id": c["deliveryId"], "practice_id": c["practiceId"]}).first()
        if row is None:
            continue
        count += 1
        if row.run_id is not None and conn.execute(_RUN_WAITS, {"run_id": row.run_id}).first() is not None:
            rest = {"run_id": row.run_id, "action_index": row.action_index + 1, "parked": PARKED}
            conn.execute(_REST_PARKED, rest)  # the run's rest waits for the delivery again
        if row.draft_id is not None:
            conn.execute(_DRAFT_SENDING, {"draft_id": row.draft_id})
    return count
