"""Events written straight into the outbox, as a host application does (crmflow.outbox)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from crmflow.outbox import event_row, write_event


def write_patient_event(
    conn: Connection,
    practice_id: str,
    *,
    name: str = "crm/patient.created",
    entity_id: str | None = None,
    data: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    depth: int = 0,
) -> dict[str, Any]:
    """Write a patient event of any name (``emit`` takes only crmflow's trigger events) in the
    caller's transaction; returns its envelope. A new patient id and ``{"patient": {"id": ...}}``
    unless given."""
    entity_id = entity_id or str(uuid.uuid4())
    row = event_row(
        practice_id=practice_id,
        aggregate_type="patient",
        name=name,
        entity_type="patient",
        entity_id=entity_id,
        data={"patient": {"id": entity_id}} if data is None else data,
        correlation_id=correlation_id,
        causation_id=causation_id,
        depth=depth,
    )
    return write_event(conn, row)
