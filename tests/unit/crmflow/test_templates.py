"""Placeholders in action args (SPEC section 6)."""

from __future__ import annotations

from typing import Any

import pytest

from crmflow.templates import (
    CONTEXT_ALIASES,
    TemplateSyntaxError,
    UnresolvedPlaceholder,
    build_context,
    placeholders,
    render,
    render_args,
)

CONTEXT: dict[str, Any] = {
    "patient": {
        "id": "p1",
        "firstName": "Ada",
        "tags": ["vip", "new"],
        "age": 42,
        "score": 1.5,
        "active": True,
        "optedOut": False,
        "phone": None,
        "address": {"city": "Lyon"},
    },
    "appointment": {"startsAt": "2025-03-12T14:30:00Z"},
    "patientId": "p1",
    "depth": 0,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("", ""),
        ("no placeholders", "no placeholders"),
        ("Hello {patient.firstName}!", "Hello Ada!"),
        ("{patient.firstName}{patient.firstName}", "AdaAda"),
        ("{patientId}", "p1"),
        ("Age {patient.age}, score {patient.score}", "Age 42, score 1.5"),
        ("{patient.active}/{patient.optedOut}", "true/false"),
        ("{patient.tags}", '["vip","new"]'),
        ("{patient.address}", '{"city":"Lyon"}'),
        ("{patient.tags.1}", "new"),
        ("{depth}", "0"),
        ("{{literal}}", "{literal}"),
        ("{{{patient.firstName}}}", "{Ada}"),
        ("a } b", "a } b"),
        ("a }} b", "a } b"),
        ("}{patient.firstName}}", "}Ada}"),
        ('JSON: {{"a": 1}}', 'JSON: {"a": 1}'),
        ("{appointment.startsAt}", "2025-03-12T14:30:00Z"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "path", "reason"),
    [
        ("{appointment.startsAt} {visit.type}", "visit.type", '"visit" not in event'),
        ("{appointment.endsAt}", "appointment.endsAt", '"appointment.endsAt" not in "appointment"'),
        ("{patient.phone}", "patient.phone", '"patient.phone" is null'),
        ("{patient.tags.5}", "patient.tags.5", '"patient.tags.5" is not an index of the array'),
        ("{patient.tags.x}", "patient.tags.x", '"patient.tags.x" is not an index of the array'),
        ("{patient.firstName.x}", "patient.firstName.x", '"patient.firstName" is a string, not an object'),
        ("{patient.age.x}", "patient.age.x", '"patient.age" is a number, not an object'),
        ("{patient.phone.x}", "patient.phone.x", '"patient.phone" is null, not an object'),
        ("{patient.active.x}", "patient.active.x", '"patient.active" is a boolean, not an object'),
        ("{patient.tags.0.x}", "patient.tags.0.x", '"patient.tags.0" is a string, not an object'),
        ("{patient.address.zip}", "patient.address.zip", '"patient.address.zip" not in "patient.address"'),
    ],
)
def test_unresolved_names_the_path_not_the_data(template: str, path: str, reason: str) -> None:
    with pytest.raises(UnresolvedPlaceholder) as caught:
        render(template, CONTEXT)
    assert str(caught.value) == f"unresolved placeholder {{{path}}}: {reason}"
    assert (caught.value.path, caught.value.reason) == (path, reason)
    assert "Ada" not in str(caught.value) and "Lyon" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "template", ["{", "a {b", "{}", "{ patient.firstName }", "{a..b}", "{a.}", '{"a": 1}', "{a{b}}"]
)
def test_syntax_errors(template: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        placeholders(template)
    with pytest.raises(TemplateSyntaxError):
        render(template, CONTEXT)


def test_placeholders_in_order_of_first_use() -> None:
    assert placeholders("{b} {a.c} {{x}} {b} {a-b_c.0}") == ["b", "a.c", "a-b_c.0"]
    assert placeholders("plain") == []


def test_render_args_renders_every_string_but_no_key() -> None:
    args = {
        "title": "Call {patient.firstName}",
        "dueInSeconds": 3600,
        "fields": {"{patientId}": ["{patient.tags.0}", 1, None, {"deep": "{patient.age}"}], "flag": True},
    }
    assert render_args(args, CONTEXT) == {
        "title": "Call Ada",
        "dueInSeconds": 3600,
        "fields": {"{patientId}": ["vip", 1, None, {"deep": "42"}], "flag": True},
    }
    assert render_args("{patientId}", CONTEXT) == "p1"
    assert render_args(None, CONTEXT) is None


def test_values_that_cannot_be_text_are_unresolved() -> None:
    with pytest.raises(UnresolvedPlaceholder):
        render("{n}", {"n": float("nan")})


ENVELOPE: dict[str, Any] = {
    "id": "e1",
    "practiceId": "pr1",
    "name": "crm/appointment.created",
    "entityType": "appointment",
    "entityId": "a1",
    "occurredAt": "2025-03-01T09:20:00Z",
    "correlationId": "c1",
    "causationId": None,
    "depth": 1,
    "data": {
        "appointment": {"id": "a1", "patientId": "p-from-appointment"},
        "patient": {"id": "p-from-patient"},
        "eventId": "spoofed",
    },
}


def test_build_context_adds_aliases_over_data() -> None:
    context = build_context(ENVELOPE)
    assert context["eventId"] == "e1"
    assert context["eventName"] == "crm/appointment.created"
    assert context["practiceId"] == "pr1"
    assert context["entityType"] == "appointment"
    assert context["entityId"] == "a1"
    assert context["correlationId"] == "c1"
    assert context["depth"] == 1
    assert context["patientId"] == "p-from-patient"
    assert context["appointment"]["patientId"] == "p-from-appointment"
    assert set(CONTEXT_ALIASES) <= set(context)
    assert ENVELOPE["data"]["eventId"] == "spoofed"  # the envelope is not modified


@pytest.mark.parametrize(
    ("data", "entity_type", "expected"),
    [
        ({"patient": {"id": "p"}, "appointment": {"patientId": "a"}}, "appointment", "p"),
        ({"appointment": {"patientId": "a"}, "message": {"patientId": "m"}}, "appointment", "a"),
        ({"message": {"patientId": "m"}}, "message", "m"),
        ({"patient": {"id": None}, "message": {"patientId": "m"}}, "message", "m"),
        ({}, "patient", "entity"),
        ({}, "appointment", None),
        ({"patient": "not an object"}, "appointment", None),
    ],
)
def test_patient_id_alias(data: dict[str, Any], entity_type: str, expected: str | None) -> None:
    context = build_context({"id": "e", "entityType": entity_type, "entityId": "entity", "data": data})
    assert context.get("patientId") == expected


def test_missing_envelope_values_leave_no_stale_alias() -> None:
    context = build_context({"id": "e", "data": {"correlationId": "from-data", "x": 1}})
    assert "correlationId" not in context
    assert context["x"] == 1
    assert build_context({"data": None}) == {}
    with pytest.raises(UnresolvedPlaceholder):
        render("{correlationId}", context)
