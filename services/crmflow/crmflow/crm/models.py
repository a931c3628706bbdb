"""Input models of the CRM writes, shared by the HTTP API and the update_patient_fields action."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from crmflow.validation import FieldError, Loc


def _no_nul(value: str) -> str:
    """PostgreSQL text and jsonb cannot hold NUL: refuse it as bad input, never a 500."""
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


def storable_json_errors(value: Any, loc: Loc = ()) -> list[FieldError]:
    """Problems that would keep a JSON value out of jsonb: NUL in strings or keys, NaN/Infinity."""
    if isinstance(value, str):
        return [FieldError(loc, "NUL characters are not allowed", "string_nul")] if "\x00" in value else []
    if isinstance(value, float) and not math.isfinite(value):
        return [FieldError(loc, "numbers must be finite", "finite_number")]
    errors: list[FieldError] = []
    if isinstance(value, dict):
        for key, item in value.items():
            errors += storable_json_errors(key, (*loc, str(key))) + storable_json_errors(
                item, (*loc, str(key))
            )
    elif isinstance(value, list):
        for i, item in enumerate(value):
            errors += storable_json_errors(item, (*loc, i))
    return errors


NoNul = AfterValidator(_no_nul)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul]
Email = Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), NoNul]
Phone = Annotated[str, StringConstraints(max_length=40, pattern=r"^\+?[0-9 ()./-]{5,40}$")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=100), NoNul]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100), NoNul]
ContactMethod = Literal["email", "sms", "phone", "mail"]
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
EntityId = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]


def is_uuid(value: str) -> bool:
    return len(value) == 36 and _UUID_RE.match(value) is not None


_UUID_RE = re.compile(UUID_PATTERN)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def values(self) -> dict[str, Any]:
        """The fields the caller set, JSON-named (None included when explicitly sent)."""
        return self.model_dump(exclude_unset=True)


class PatientCreate(_Input):
    firstName: Name
    lastName: Name
    email: Email | None = None
    phone: Phone | None = None
    dateOfBirth: date | None = None
    status: Short = "active"
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    preferredContactMethod: ContactMethod | None = None
    preferredLanguage: Short | None = None
    nextFollowUpAt: AwareDatetime | None = None
    smsOptIn: StrictBool = False
    emailOptIn: StrictBool = False

    def values(self) -> dict[str, Any]:
        return self.model_dump()


class _Update(_Input):
    _required: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _no_null_required(self) -> _Update:
        for name in self._required:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class PatientUpdate(_Update):
    _required = ("firstName", "lastName", "status", "tags", "smsOptIn", "emailOptIn")

    firstName: Name | None = None
    lastName: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    dateOfBirth: date | None = None
    status: Short | None = None
    tags: list[Tag] | None = Field(None, max_length=50)
    preferredContactMethod: ContactMethod | None = None
    preferredLanguage: Short | None = None
    nextFollowUpAt: AwareDatetime | None = None
    smsOptIn: StrictBool | None = None
    emailOptIn: StrictBool | None = None


class AppointmentCreate(_Input):
    patientId: EntityId
    startsAt: datetime
    visitType: Short
    status: Short
    provider: Short | None = None

    def values(self) -> dict[str, Any]:
        return self.model_dump()


class AppointmentUpdate(_Update):
    _required = ("patientId", "startsAt", "visitType", "status")

    patientId: EntityId | None = None
    startsAt: datetime | None = None
    visitType: Short | None = None
    status: Short | None = None
    provider: Short | None = None


# -- resources as the API returns them (timestamps: ISO-8601 strings from the database) --------
class Patient(BaseModel):
    id: str
    practiceId: str
    firstName: str
    lastName: str
    email: str | None
    phone: str | None
    dateOfBirth: str | None
    status: str
    tags: list[str]
    preferredContactMethod: str | None
    preferredLanguage: str | None
    nextFollowUpAt: str | None
    smsOptIn: bool = Field(description="Consent to SMS sent by automations (SPEC section 9).")
    emailOptIn: bool = Field(description="Consent to e-mail sent by automations (SPEC section 9).")
    createdAt: str
    updatedAt: str


class Appointment(BaseModel):
    id: str
    practiceId: str
    patientId: str
    startsAt: str
    visitType: str
    status: str
    provider: str | None
    createdAt: str
    updatedAt: str


class Note(BaseModel):
    id: str
    practiceId: str
    patientId: str
    body: str
    runId: str | None = Field(description="The automation run that wrote it (null: a user).")
    createdAt: str


class Task(BaseModel):
    id: str
    practiceId: str
    patientId: str | None
    title: str
    description: str | None
    status: str
    dueAt: str | None
    assignee: str | None
    runId: str | None
    createdAt: str
    updatedAt: str


class Draft(BaseModel):
    id: str
    practiceId: str
    patientId: str
    channel: str
    to: str
    subject: str | None
    body: str
    status: str = Field(description="draft, sending (approved, being delivered), sent or failed.")
    error: str | None = Field(None, description="Why a send failed (no_consent, the provider's answer...).")
    sentAt: str | None = None
    runId: str | None
    createdAt: str
