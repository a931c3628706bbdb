"""A practice's rules for reaching patients, as the runner reads them: time zone, quiet hours
(SPEC section 8) and frequency caps (SPEC section 13), and the counts the caps are held to.

Caps count, per patient since the start of the local day / week: for sends, the deliveries of
e-mail and SMS (not failed ones: a message that never left does not count; approved drafts
included); for draft actions, the drafts made for the patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, Select, bindparam, func, select

from crmflow.db.tables import message_deliveries, message_drafts, practices
from crmflow.message_caps import MessageCaps, window_starts
from crmflow.quiet_hours import QuietHours
from crmflow.statuses import DeliveryStatus
from crmflow_runner.errors import PermanentActionError

CAPPED_CHANNELS: Final = frozenset({"email", "sms"})
"""Channels counted by, and held to, the practice's frequency caps (messages to a patient)."""


@dataclass(frozen=True)
class Reach:
    time_zone: str
    quiet: QuietHours | None
    caps: MessageCaps | None


_REACH = select(practices.c.time_zone, practices.c.quiet_hours, practices.c.message_caps).where(
    practices.c.id == bindparam("id")
)
SENT_SINCE = (
    select(func.count())
    .select_from(message_deliveries)
    .where(
        message_deliveries.c.practice_id == bindparam("practice_id"),
        message_deliveries.c.patient_id == bindparam("patient_id"),
        message_deliveries.c.created_at >= bindparam("since"),
        message_deliveries.c.channel.in_(sorted(CAPPED_CHANNELS)),
        message_deliveries.c.status != DeliveryStatus.FAILED.value,
    )
)
DRAFTED_SINCE = (
    select(func.count())
    .select_from(message_drafts)
    .where(
        message_drafts.c.practice_id == bindparam("practice_id"),
        message_drafts.c.patient_id == bindparam("patient_id"),
        message_drafts.c.created_at >= bindparam("since"),
    )
)


def read_reach(conn: Connection, practice_id: str) -> Reach:
    row = conn.execute(_REACH, {"id": practice_id}).one_or_none()
    if row is None:
        raise PermanentActionError(f"practice {practice_id} not found")
    quiet = None if row.quiet_hours is None else QuietHours.from_json(row.quiet_hours)
    caps = None if row.message_caps is None else MessageCaps.from_json(row.message_caps)
    return Reach(row.time_zone, quiet, caps)


def over_cap(
    conn: Connection, counted: Select, practice_id: str, patient_id: str, reach: Reach, now: datetime
) -> bool:
    """Whether one more message (``counted``: SENT_SINCE or DRAFTED_SINCE) would pass a cap."""
    if reach.caps is None:
        return False
    for since, limit in window_starts(reach.caps, now, reach.time_zone):
        count = conn.execute(counted, {"practice_id": practice_id, "patient_id": patient_id, "since": since})
        if count.scalar_one() >= limit:
            return True
    return False
