"""The trigger catalog shared by rules-api, evaluator and runner."""

from __future__ import annotations

import pytest

from crmflow.conditions import OPERATORS, compile_condition
from crmflow.conditions.paths import MISSING, lookup, split_path
from crmflow.templates import CONTEXT_ALIASES, build_context, render
from crmflow.triggers import (
    APPOINTMENT_FIELDS,
    MESSAGE_FIELDS,
    PATIENT_FIELDS,
    TRIGGER_NAMES,
    TRIGGERS,
    UnknownTrigger,
    field_paths,
    get_trigger,
    placeholder_can_resolve,
)

SEED_TRIGGERS = {
    "crm/appointment.created",
    "crm/appointment.updated",
    "crm/patient.created",
    "crm/patient.updated",
    "crm/message.drafted",
}


def test_the_five_seed_triggers() -> None:
    assert TRIGGER_NAMES == SEED_TRIGGERS == set(TRIGGERS)


@pytest.mark.parametrize(
    ("name", "entity", "aggregate", "roots"),
    [
        ("crm/patient.created", "patient", "patient", ("patient",)),
        ("crm/patient.updated", "patient", "patient", ("patient", "changes")),
        ("crm/appointment.created", "appointment", "appointment", ("appointment", "patient")),
        ("crm/appointment.updated", "appointment", "appointment", ("appointment", "patient", "changes")),
        ("crm/message.drafted", "message", "message", ("message", "patient")),
    ],
)
def test_trigger_specs(name: str, entity: str, aggregate: str, roots: tuple[str, ...]) -> None:
    spec = get_trigger(name)
    assert (spec.name, spec.entity_type, spec.aggregate, spec.roots) == (name, entity, aggregate, roots)
    assert tuple(spec.sample_data()) == roots
    assert spec.has_changes is name.endswith(".updated")


def test_sample_data_has_every_entity_field_and_is_a_fresh_copy() -> None:
    fields = {"patient": PATIENT_FIELDS, "appointment": APPOINTMENT_FIELDS, "message": MESSAGE_FIELDS}
    for spec in TRIGGERS.values():
        data = spec.sample_data()
        for root in spec.roots:
            if root != "changes":
                assert tuple(data[root]) == fields[root]
        data["patient"]["firstName"] = "changed"
        assert spec.sample_data()["patient"]["firstName"] == "Ada"
    patient = get_trigger("crm/patient.created").sample_data()["patient"]
    assert isinstance(patient["tags"], list) and len(patient["dateOfBirth"]) == 10
    appointment = get_trigger("crm/appointment.created").sample_data()
    assert appointment["appointment"]["patientId"] == appointment["patient"]["id"]


def test_every_field_path_exists_in_the_sample_data() -> None:
    for spec in TRIGGERS.values():
        data = spec.sample_data()
        paths = field_paths(spec)
        assert len(paths) == len(set(paths))
        for path in paths:
            if not path.startswith("changes."):
                assert lookup(data, split_path(path)) is not MISSING, path
            assert placeholder_can_resolve(spec, path), path


def test_field_paths() -> None:
    paths = field_paths("crm/appointment.updated")
    assert {"appointment.startsAt", "patient.email", "changes.status", "changes.status.to"} <= set(paths)
    assert not any(p.startswith("message.") for p in paths)
    assert not any(p.startswith("changes") for p in field_paths("crm/appointment.created"))
    assert "message.body" in field_paths("crm/message.drafted")
    assert get_trigger("crm/patient.created").field_paths() == field_paths("crm/patient.created")


def test_unknown_trigger() -> None:
    with pytest.raises(UnknownTrigger) as caught:
        get_trigger("crm/patient.deleted")
    assert isinstance(caught.value, KeyError)
    assert "crm/patient.created" in str(caught.value)
    with pytest.raises(KeyError):
        field_paths("nope")


@pytest.mark.parametrize(
    ("trigger", "path", "expected"),
    [
        ("crm/patient.created", "patientId", True),
        ("crm/patient.created", "eventId", True),
        ("crm/patient.created", "depth", True),
        ("crm/patient.created", "patientId.x", False),
        ("crm/patient.created", "patient", True),
        ("crm/patient.created", "patient.firstName", True),
        ("crm/patient.created", "patient.tags.0", True),
        ("crm/patient.created", "patient.middleName", False),
        ("crm/patient.created", "appointment.startsAt", False),
        ("crm/patient.created", "changes.status.to", False),
        ("crm/patient.updated", "changes.status.to", True),
        ("crm/patient.updated", "changes.anything", True),
        ("crm/patient.updated", "changes", True),
        ("crm/appointment.created", "appointment.startsAt", True),
        ("crm/appointment.created", "patient.email", True),
        ("crm/appointment.created", "message.body", False),
        ("crm/message.drafted", "message.body", True),
        ("crm/message.drafted", "message.to", True),
        ("crm/message.drafted", "appointment.id", False),
        ("crm/nope", "patientId", False),
    ],
)
def test_placeholder_can_resolve(trigger: str, path: str, expected: bool) -> None:
    assert placeholder_can_resolve(trigger, path) is expected


def test_every_alias_resolves_on_a_real_envelope() -> None:
    for spec in TRIGGERS.values():
        envelope = {
            "id": "e1",
            "practiceId": "pr1",
            "name": spec.name,
            "entityType": spec.entity_type,
            "entityId": "x",
            "correlationId": "c1",
            "depth": 0,
            "data": spec.sample_data(),
        }
        context = build_context(envelope)
        for alias in CONTEXT_ALIASES:
            assert placeholder_can_resolve(spec, alias)
            render(f"{{{alias}}}", context)
        assert context["patientId"] == spec.sample_data()["patient"]["id"]


def test_sample_data_is_usable_by_conditions() -> None:
    data = get_trigger("crm/appointment.updated").sample_data()
    condition = {
        "operator": "and",
        "conditions": [
            {"field": "appointment.status", "operator": "changed_to", "value": "cancelled"},
            {"field": "patient.email", "operator": "exists"},
            {"field": "appointment.startsAt", "operator": "greater_than", "value": "2025-01-01"},
        ],
    }
    assert compile_condition(condition).evaluate(data)
    assert "changed_to" in OPERATORS
