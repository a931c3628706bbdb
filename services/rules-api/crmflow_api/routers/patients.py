"""The reference CRM: patients and appointments, and the effects automations had on them."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from crmflow.crm.entities import (
    create_appointment,
    create_patient,
    get_appointment,
    get_patient,
    update_appointment,
    update_patient,
)
from crmflow.crm.models import (
    Appointment,
    AppointmentCreate,
    AppointmentUpdate,
    Draft,
    Note,
    Patient,
    PatientCreate,
    PatientUpdate,
    Task,
)
from crmflow.crm.serialize import DRAFT_FIELDS, NOTE_FIELDS, TASK_FIELDS, to_json
from crmflow.db.tables import message_drafts, notes, tasks
from crmflow_api.deps import Db, PracticeId
from crmflow_api.errors import AUTH_ERRORS, BAD_BODY, NOT_FOUND, require_uuid

router = APIRouter(prefix="/api", tags=["crm"], responses={**AUTH_ERRORS, **NOT_FOUND})


@router.post("/patients", status_code=status.HTTP_201_CREATED, response_model=Patient, responses=BAD_BODY)
def post_patient(body: PatientCreate, practice_id: PracticeId, db: Db) -> dict:
    return create_patient(db, practice_id, body.values())


@router.get("/patients/{patient_id}", response_model=Patient)
def read_patient(patient_id: str, practice_id: PracticeId, db: Db) -> dict:
    return get_patient(db, practice_id, require_uuid(patient_id, "patient"))


@router.patch("/patients/{patient_id}", response_model=Patient, responses=BAD_BODY)
def patch_patient(patient_id: str, body: PatientUpdate, practice_id: PracticeId, db: Db) -> dict:
    patient, _ = update_patient(db, practice_id, require_uuid(patient_id, "patient"), body.values())
    return patient


def _effects(db: Db, practice_id: str, patient_id: str, table, fields) -> list[dict]:
    read_patient(patient_id, practice_id, db)
    rows = db.execute(
        select(table)
        .where(table.c.practice_id == practice_id, table.c.patient_id == patient_id)
        .order_by(table.c.created_at, table.c.id)
    ).mappings()
    return [to_json(r, fields) for r in rows]


@router.get("/patients/{patient_id}/notes", response_model=list[Note])
def patient_notes(patient_id: str, practice_id: PracticeId, db: Db) -> list[dict]:
    return _effects(db, practice_id, patient_id, notes, NOTE_FIELDS)


@router.get("/patients/{patient_id}/tasks", response_model=list[Task])
def patient_tasks(patient_id: str, practice_id: PracticeId, db: Db) -> list[dict]:
    return _effects(db, practice_id, patient_id, tasks, TASK_FIELDS)


@router.get("/patients/{patient_id}/drafts", response_model=list[Draft])
def patient_drafts(patient_id: str, practice_id: PracticeId, db: Db) -> list[dict]:
    return _effects(db, practice_id, patient_id, message_drafts, DRAFT_FIELDS)


@router.post(
    "/appointments", status_code=status.HTTP_201_CREATED, response_model=Appointment, responses=BAD_BODY
)
def post_appointment(body: AppointmentCreate, practice_id: PracticeId, db: Db) -> dict:
    return create_appointment(db, practice_id, body.values())


@router.get("/appointments/{appointment_id}", response_model=Appointment)
def read_appointment(appointment_id: str, practice_id: PracticeId, db: Db) -> dict:
    return get_appointment(db, practice_id, require_uuid(appointment_id, "appointment"))


@router.patch("/appointments/{appointment_id}", response_model=Appointment, responses=BAD_BODY)
def patch_appointment(appointment_id: str, body: AppointmentUpdate, practice_id: PracticeId, db: Db) -> dict:
    return update_appointment(db, practice_id, require_uuid(appointment_id, "appointment"), body.values())
