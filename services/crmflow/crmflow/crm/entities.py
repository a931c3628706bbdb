"""Create and update CRM entities, each write committing with its outbox event.

Functions take an open connection: the caller owns the transaction (``engine.begin()``), so the
entity row and its event commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, update

from crmflow.crm.serialize import APPOINTMENT_FIELDS, PATIENT_FIELDS, to_columns, to_json
from crmflow.db.tables import appointments, patients
from crmflow.outbox import USER, Cause, emit


class NotFound(LookupError):
    """The entity does not exist in this practice (callers answer 404, never 403)."""

    def __init__(self, kind: str, entity_id: str) -> None:
        super().__init__(f"{kind} {entity_id} not found")
        self.kind = kind  # "patient", "appointment"


def _get(conn: Connection, table: Table, practice_id: str, entity_id: str, *, lock: bool = False):
    query = select(table).where(table.c.id == entity_id, table.c.practice_id == practice_id)
    if lock:  # FOR NO KEY UPDATE: the updates change no key, so inserts of rows referencing this
        # one (the runner's notes: their foreign-key check takes FOR KEY SHARE) need not wait
        query = query.with_for_update(key_share=True)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(table.name[:-1], entity_id)
    return row


def get_patient(conn: Connection, practice_id: str, patient_id: str, *, lock: bool = False) -> dict:
    return to_json(_get(conn, patients, practice_id, patient_id, lock=lock), PATIENT_FIELDS)


def get_appointment(conn: Connection, practice_id: str, appointment_id: str, *, lock: bool = False) -> dict:
    return to_json(_get(conn, appointments, practice_id, appointment_id, lock=lock), APPOINTMENT_FIELDS)


def _insert(
    conn: Connection, table: Table, fields: Mapping[str, str], practice_id: str, values: Mapping[str, Any]
) -> dict:
    row = (
        conn.execute(
            insert(table).values(practice_id=practice_id, **to_columns(values, fields)).returning(table)
        )
        .mappings()
        .one()
    )
    return to_json(row, fields)


def _update(
    conn: Connection,
    table: Table,
    fields: Mapping[str, str],
    practice_id: str,
    entity_id: str,
    values: Mapping[str, Any],
) -> dict:
    row = (
        conn.execute(
            update(table)
            .where(table.c.id == entity_id, table.c.practice_id == practice_id)
            .values(updated_at=func.clock_timestamp(), **to_columns(values, fields))
            .returning(table)
        )
        .mappings()
        .one()
    )
    return to_json(row, fields)


def _changes(before: Mapping[str, Any], after: Mapping[str, Any], names: list[str]) -> dict:
    return {n: {"from": before[n], "to": after[n]} for n in names if before[n] != after[n]}


def create_patient(
    conn: Connection, practice_id: str, values: Mapping[str, Any], cause: Cause = USER
) -> dict:
    patient = _insert(conn, patients, PATIENT_FIELDS, practice_id, values)
    emit(conn, practice_id, "crm/patient.created", patient["id"], {"patient": patient}, cause)
    return patient


def update_patient(
    conn: Connection, practice_id: str, patient_id: str, values: Mapping[str, Any], cause: Cause = USER
) -> tuple[dict, dict]:
    """Apply ``values``; emit crm/patient.updated with ``changes`` when anything changed."""
    before = get_patient(conn, practice_id, patient_id, lock=True)
    if not values:
        return before, {}
    after = _update(conn, patients, PATIENT_FIELDS, practice_id, patient_id, values)
    changes = _changes(before, after, list(values))
    if changes:
        emit(
            conn,
            practice_id,
            "crm/patient.updated",
            patient_id,
            {"patient": after, "changes": changes},
            cause,
        )
    return after, changes


def create_appointment(
    conn: Connection, practice_id: str, values: Mapping[str, Any], cause: Cause = USER
) -> dict:
    patient = get_patient(conn, practice_id, values["patientId"])
    appointment = _insert(conn, appointments, APPOINTMENT_FIELDS, practice_id, values)
    emit(
        conn,
        practice_id,
        "crm/appointment.created",
        appointment["id"],
        {"appointment": appointment, "patient": patient},
        cause,
    )
    return appointment


def update_appointment(
    conn: Connection, practice_id: str, appointment_id: str, values: Mapping[str, Any], cause: Cause = USER
) -> dict:
    before = get_appointment(conn, practice_id, appointment_id, lock=True)
    if not values:
        return before
    if "patientId" in values:
        get_patient(conn, practice_id, values["patientId"])
    after = _update(conn, appointments, APPOINTMENT_FIELDS, practice_id, appointment_id, values)
    changes = _changes(before, after, list(values))
    if changes:
        patient = get_patient(conn, practice_id, after["patientId"])
        emit(
            conn,
            practice_id,
            "crm/appointment.updated",
            appointment_id,
            {"appointment": after, "patient": patient, "changes": changes},
            cause,
        )
    return after
