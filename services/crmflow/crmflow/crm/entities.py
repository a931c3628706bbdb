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


def _get(conn: Connection, table: Table, practice_id: str, entity_id: str, *, lock: bool = False):
    query = select(table).where(table.c.id == entity_id, table.c.practice_id == practice_id)
    if lock:  # FOR NO KEY UPDATE: the updates change no key, so inserts of rows referencing this
        # one (the runner's notes: their foreign-key check takes FOR KEY SHARE) need not wait
        query = query.with_for_update(key_share=True)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"{table.name[:-1]} {entity_id} not found")
    return row


def get_patient(conn: Connection, practice_id: str, patient_id: str, *, lock: bool = False) -> dict:
    return to_json(_get(conn, patients, practice_id, patient_id, lock=lock), PATIENT_FIELDS)


def get_appointment(conn: Connection, practice_id: str, appointment_id: str) -> dict:
    return to_json(_get(conn, appointments, practice_id, appointment_id), APPOINTMENT_FIELDS)


def _changes(before: Mapping[str, Any], after: Mapping[str, Any], names: list[str]) -> dict:
    return {n: {"from": before[n], "to": after[n]} for n in names if before[n] != after[n]}


def create_patient(
    conn: Connection, practice_id: str, values: Mapping[str, Any], cause: Cause = USER
) -> dict:
    row = (
        conn.execute(
            insert(patients)
            .values(practice_id=practice_id, **to_columns(values, PATIENT_FIELDS))
            .returning(patients)
        )
        .mappings()
        .one()
    )
    patient = to_json(row, PATIENT_FIELDS)
    emit(conn, practice_id, "crm/patient.created", patient["id"], {"patient": patient}, cause)
    return patient


def update_patient(
    conn: Connection, practice_id: str, patient_id: str, values: Mapping[str, Any], cause: Cause = USER
) -> tuple[dict, dict]:
    """Apply ``values``; emit crm/patient.updated with ``changes`` when anything changed."""
    before = get_patient(conn, practice_id, patient_id, lock=True)
    if not values:
        return before, {}
    row = (
        conn.execute(
            update(patients)
            .where(patients.c.id == patient_id, patients.c.practice_id == practice_id)
            .values(updated_at=func.clock_timestamp(), **to_columns(values, PATIENT_FIELDS))
            .returning(patients)
        )
        .mappings()
        .one()
    )
    after = to_json(row, PATIENT_FIELDS)
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
    row = (
        conn.execute(
            insert(appointments)
            .values(practice_id=practice_id, **to_columns(values, APPOINTMENT_FIELDS))
            .returning(appointments)
        )
        .mappings()
        .one()
    )
    appointment = to_json(row, APPOINTMENT_FIELDS)
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
    before = to_json(_get(conn, appointments, practice_id, appointment_id, lock=True), APPOINTMENT_FIELDS)
    if not values:
        return before
    if "patientId" in values:
        get_patient(conn, practice_id, values["patientId"])
    row = (
        conn.execute(
            update(appointments)
            .where(appointments.c.id == appointment_id, appointments.c.practice_id == practice_id)
            .values(updated_at=func.clock_timestamp(), **to_columns(values, APPOINTMENT_FIELDS))
            .returning(appointments)
        )
        .mappings()
        .one()
    )
    after = to_json(row, APPOINTMENT_FIELDS)
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
