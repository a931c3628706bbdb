"""The trigger catalog: the five events rules can start on, shared by rules-api, evaluator and runner.

For each trigger: its entity type, its aggregate (the Kafka topic suffix), a realistic sample
``data`` (for field suggestions in the web UI and for dry-runs) and the field paths it carries.
:func:`placeholder_can_resolve` lets the rules-api refuse, at save time, action placeholders that
can never resolve for the rule's trigger.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from crmflow.crm import serialize
from crmflow.templates import CONTEXT_ALIASES

# The fields an event's entity objects carry: the CRM's serialization of its rows (crm.serialize).
PATIENT_FIELDS: Final = tuple(serialize.PATIENT_FIELDS)
APPOINTMENT_FIELDS: Final = tuple(serialize.APPOINTMENT_FIELDS)
MESSAGE_FIELDS: Final = tuple(serialize.DRAFT_FIELDS)
ENTITY_FIELDS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"patient": PATIENT_FIELDS, "appointment": APPOINTMENT_FIELDS, "message": MESSAGE_FIELDS}
)

_PRACTICE = "6f1c2b7e-3a4d-4e5f-9a0b-1c2d3e4f5a6b"
_PATIENT = {
    "id": "0b8e6a52-7c1d-4f3a-9e2b-5d4c3b2a1f00",
    "practiceId": _PRACTICE,
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "ada.lovelace@example.com",
    "phone": "+15555550123",
    "dateOfBirth": "1985-12-10",
    "status": "active",
    "tags": ["new-patient", "newsletter"],
    "preferredContactMethod": "email",
    "preferredLanguage": "en",
    "nextFollowUpAt": None,
    "smsOptIn": True,
    "emailOptIn": True,
    "createdAt": "2025-03-01T09:15:00Z",
    "updatedAt": "2025-03-01T09:15:00Z",
}
_APPOINTMENT = {
    "id": "a3f1e2d4-5b6c-4d7e-8f90-1a2b3c4d5e6f",
    "practiceId": _PRACTICE,
    "patientId": _PATIENT["id"],
    "startsAt": "2025-03-12T14:30:00Z",
    "visitType": "Consultation",
    "status": "scheduled",
    "provider": "Dr. Grace Hopper",
    "createdAt": "2025-03-01T09:20:00Z",
    "updatedAt": "2025-03-01T09:20:00Z",
}
_MESSAGE = {
    "id": "d7c6b5a4-9e8f-4a1b-8c2d-3e4f5a6b7c8d",
    "practiceId": _PRACTICE,
    "patientId": _PATIENT["id"],
    "channel": "email",
    "to": "ada.lovelace@example.com",
    "subject": "Your appointment on March 12",
    "body": "Hello Ada, this is a reminder of your Consultation on 2025-03-12T14:30:00Z.",
    "status": "draft",
    "error": None,
    "sentAt": None,
    "runId": "5e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170",
    "createdAt": "2025-03-01T09:20:01Z",
}


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    entity_type: str
    aggregate: str
    """Suffix of the Kafka topic the trigger's events travel on (``crm.<aggregate>``)."""
    description: str
    roots: tuple[str, ...]
    """Top-level keys of ``data``: entity objects, plus ``changes`` for ``*.updated``."""
    _sample: Mapping[str, Any]

    @property
    def has_changes(self) -> bool:
        return "changes" in self.roots

    def sample_data(self) -> dict[str, Any]:
        """A fresh deep copy of a realistic ``data`` payload for this trigger."""
        return copy.deepcopy(dict(self._sample))

    def field_paths(self) -> list[str]:
        return field_paths(self)


def _trigger(name: str, description: str, data: dict[str, Any]) -> TriggerSpec:
    entity = name.removeprefix("crm/").split(".")[0]
    return TriggerSpec(name, entity, entity, description, tuple(data), MappingProxyType(data))


TRIGGERS: Final[Mapping[str, TriggerSpec]] = MappingProxyType(
    {
        t.name: t
        for t in (
            _trigger("crm/patient.created", "A patient was created", {"patient": _PATIENT}),
            _trigger(
                "crm/patient.updated",
                "A patient was updated",
                {
                    "patient": {**_PATIENT, "status": "inactive", "updatedAt": "2025-03-05T10:00:00Z"},
                    "changes": {"status": {"from": "active", "to": "inactive"}},
                },
            ),
            _trigger(
                "crm/appointment.created",
                "An appointment was created",
                {"appointment": _APPOINTMENT, "patient": _PATIENT},
            ),
            _trigger(
                "crm/appointment.updated",
                "An appointment was updated",
                {
                    "appointment": {
                        **_APPOINTMENT,
                        "status": "cancelled",
                        "updatedAt": "2025-03-02T08:00:00Z",
                    },
                    "patient": _PATIENT,
                    "changes": {"status": {"from": "scheduled", "to": "cancelled"}},
                },
            ),
            _trigger(
                "crm/message.drafted",
                "A message draft was created",
                {"message": _MESSAGE, "patient": _PATIENT},
            ),
        )
    }
)
TRIGGER_NAMES: Final = frozenset(TRIGGERS)


class UnknownTrigger(KeyError):
    def __str__(self) -> str:
        return f"unknown trigger event {self.args[0]!r}; expected one of {', '.join(sorted(TRIGGER_NAMES))}"


def get_trigger(name: str) -> TriggerSpec:
    try:
        return TRIGGERS[name]
    except (KeyError, TypeError):
        raise UnknownTrigger(name) from None


def _spec(trigger: str | TriggerSpec) -> TriggerSpec:
    return trigger if isinstance(trigger, TriggerSpec) else get_trigger(trigger)


def field_paths(trigger: str | TriggerSpec) -> list[str]:
    """Every known field path of the trigger's ``data``, e.g. ``patient.email``, ``changes.status.to``."""
    spec = _spec(trigger)
    paths: list[str] = []
    entity_roots = [root for root in spec.roots if root in ENTITY_FIELDS]
    for root in entity_roots:
        paths.extend(f"{root}.{name}" for name in ENTITY_FIELDS[root])
    if spec.has_changes:
        for name in ENTITY_FIELDS[spec.entity_type]:
            paths.extend((f"changes.{name}", f"changes.{name}.from", f"changes.{name}.to"))
    return paths


def placeholder_can_resolve(trigger: str | TriggerSpec, path: str) -> bool:
    """Whether ``{path}`` can resolve for some event of ``trigger``.

    True for context aliases (``patientId``...), for ``<entity>`` and ``<entity>.<known field>``
    of the trigger's entities and anything below a known field (``patient.tags.0``), and for
    ``changes`` and anything under it on ``*.updated`` triggers.  False for unknown triggers.
    """
    try:
        spec = _spec(trigger)
    except UnknownTrigger:
        return False
    segments = path.split(".")
    root = segments[0]
    if root in CONTEXT_ALIASES:
        return len(segments) == 1
    if root == "changes":
        return spec.has_changes
    if root not in spec.roots or root not in ENTITY_FIELDS:
        return False
    return len(segments) == 1 or segments[1] in ENTITY_FIELDS[root]
