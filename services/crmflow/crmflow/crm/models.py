"""Input models of the CRM writes, shared by the HTTP API and the update_patient_fields action."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, StringConstraints(max_length=40, pattern=r"^\+?[0-9 ()./-]{5,40}$")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100)]
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
    _required = ("firstName", "lastName", "status", "tags")

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
