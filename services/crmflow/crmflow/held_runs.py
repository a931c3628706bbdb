"""Held runs of a paused rule (SPEC section 13): the SQL both sides of a pause share.

The runner keeps a held run's actions in ``scheduled_resumes`` with status ``held`` and due time
= when it was held, so a rule's held runs sort in event order. Unpausing the rule
(:func:`release_held_runs`, in the rule update's transaction) makes them ``pending``: due at
once, the scheduler sends their resumes through each patient's partition, oldest first.

A held run is stored only while its rule is still paused (:data:`RULES_STILL_HOLDING`, read with
``FOR SHARE``): an unpause takes the rule's row ``FOR UPDATE``, so either the unpause commits
first and the run is stored pending, or the run commits first and the unpause releases it.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from crmflow.pause import Pause
from crmflow.statuses import ResumeStatus

RELEASE_HELD = text(
    f"""
    UPDATE scheduled_resumes SET status = '{ResumeStatus.PENDING}'
    WHERE practice_id = :practice_id AND rule_id = :rule_id AND status = '{ResumeStatus.HELD}'
    """
)
RULES_STILL_HOLDING = text(
    f"""
    SELECT id FROM automation_rules
    WHERE id = ANY(:ids) AND paused = '{Pause.HOLD}' AND deleted_at IS NULL
    FOR SHARE
    """
).bindparams(bindparam("ids", type_=ARRAY(UUID(as_uuid=False))))


def release_held_runs(conn: Connection, practice_id: str, rule_id: str) -> int:
    """Make the rule's held runs due at once; returns how many."""
    return conn.execute(RELEASE_HELD, {"practice_id": practice_id, "rule_id": rule_id}).rowcount


def rules_still_holding(conn: Connection, rule_ids: list[str]) -> set[str]:
    """Those of ``rule_ids`` still paused with hold (their rows share-locked until commit)."""
    if not rule_ids:
        return set()
    return {str(r) for r in conn.execute(RULES_STILL_HOLDING, {"ids": sorted(set(rule_ids))}).scalars()}
