"""Rows -> camelCase JSON, as the API returns them and as events carry them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a type only: the domain (triggers, envelope) imports this module without SQLAlchemy
    from sqlalchemy import RowMapping

# JSON name -> column name, per entity. The single mapping used for reads, writes and changes.
PATIENT_FIELDS: dict[str, str] = {
    "id": "id",
    "practiceId": "practice_id",
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "phone": "phone",
    "dateOfBirth": "date_of_birth",
    "status": "status",
    "tags": "tags",
    "preferredContactMethod": "preferred_contact_method",
    "preferredLanguage": "preferred_language",
    "nextFollowUpAt": "next_follow_up_at",
    "smsOptIn": "sms_opt_in",
    "emailOptIn": "email_opt_in",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
}
APPOINTMENT_FIELDS: dict[str, str] = {
    "id": "id",
    "practiceId": "practice_id",
    "patientId": "patient_id",
    "startsAt": "starts_at",
    "visitType": "visit_type",
    "status": "status",
    "provider": "provider",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
}
NOTE_FIELDS: dict[str, str] = {
    "id": "id",
    "practiceId": "practice_id",
    "patientId": "patient_id",
    "body": "body",
    "runId": "run_id",
    "createdAt": "created_at",
}
TASK_FIELDS: dict[str, str] = {
    "id": "id",
    "practiceId": "practice_id",
    "patientId": "patient_id",
    "title": "title",
    "description": "description",
    "status": "status",
    "dueAt": "due_at",
    "assignee": "assignee",
    "runId": "run_id",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
}
DRAFT_FIELDS: dict[str, str] = {
    "id": "id",
    "practiceId": "practice_id",
    "patientId": "patient_id",
    "channel": "channel",
    "to": "to_address",
    "subject": "subject",
    "body": "body",
    "status": "status",
    "error": "error",
    "sentAt": "sent_at",
    "runId": "run_id",
    "createdAt": "created_at",
}


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def to_json(row: Mapping[str, Any] | RowMapping, fields: Mapping[str, str]) -> dict[str, Any]:
    return {name: json_value(row[column]) for name, column in fields.items()}


def to_columns(values: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    return {fields[name]: value for name, value in values.items()}
