"""Action schemas and the save-time validation of actionsJson."""

from __future__ import annotations

from typing import Any

import pytest

from crmflow.actions import (
    ACTION_TYPES,
    DEFAULT_PATIENT_FIELD_ALLOWLIST,
    MAX_ACTIONS,
    check_patient_fields,
    validate_actions,
)
from crmflow.validation import FieldError

VALID: list[dict[str, Any]] = [
    {"type": "create_task", "args": {"title": "Call {patient.firstName}"}},
    {
        "type": "create_task",
        "args": {
            "title": "Follow up",
            "description": "",
            "dueInSeconds": 0,
            "patientId": "{patientId}",
            "assignee": "front-desk",
        },
    },
    {"type": "create_note", "args": {"patientId": "{patientId}", "body": "Booked {appointment.visitType}"}},
    {"type": "draft_sms", "args": {"patientId": "{patientId}", "body": "See you at {appointment.startsAt}"}},
    {
        "type": "draft_email",
        "args": {"patientId": "{patientId}", "subject": "Welcome!", "body": "Hi {{you}}"},
    },
    {"type": "update_patient_fields", "args": {"patientId": "{patientId}", "fields": {"status": "active"}}},
    {"type": "delay_seconds", "args": {"seconds": 31_536_000}},
    {"type": "delay_seconds", "args": {"seconds": 0}},
]


def one(action_type: str, **args: Any) -> list[dict[str, Any]]:
    return [{"type": action_type, "args": args}]


def locs(errors: list[FieldError]) -> list[tuple[tuple[str | int, ...], str]]:
    return [(e.loc, e.type) for e in errors]


def test_the_seed_actions_and_delay_until() -> None:
    assert set(ACTION_TYPES) == {
        "create_task",
        "create_note",
        "draft_sms",
        "draft_email",
        "update_patient_fields",
        "delay_seconds",
        "delay_until",
        "wait_for_event",
        "send_email",
        "send_sms",
        "send_webhook",
    }
    assert DEFAULT_PATIENT_FIELD_ALLOWLIST == (
        "status",
        "tags",
        "preferredContactMethod",
        "preferredLanguage",
        "nextFollowUpAt",
    )


def test_valid_actions() -> None:
    assert validate_actions(VALID, "crm/appointment.created") == []
    assert validate_actions([], None) == []


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        ("not a list", [((), "list_type")]),
        ({"type": "create_note"}, [((), "list_type")]),
        ([{"type": "delay_seconds", "args": {"seconds": 1}}] * (MAX_ACTIONS + 1), [((), "too_long")]),
        (["create_note"], [((0,), "dict_type")]),
        ([{"args": {}}], [((0, "type"), "missing")]),
        ([{"type": "send_fax", "args": {}}], [((0, "type"), "unknown_action_type")]),
        ([{"type": 3, "args": {}}], [((0, "type"), "unknown_action_type")]),
        ([{"type": "create_note"}], [((0, "args"), "missing")]),
        ([{"type": "create_note", "args": []}], [((0, "args"), "dict_type")]),
        ([{"type": "delay_seconds", "args": {"seconds": 1}, "if": 1}], [((0, "if"), "extra_forbidden")]),
        (one("create_task"), [((0, "args", "title"), "missing")]),
        (one("create_task", title=""), [((0, "args", "title"), "string_too_short")]),
        (
            [{"type": "create_task", "args": {"title": "x" * 501}}],
            [((0, "args", "title"), "string_too_long")],
        ),
        (one("create_task", title=5), [((0, "args", "title"), "string_type")]),
        (
            [{"type": "create_task", "args": {"title": "t", "dueInSeconds": -1}}],
            [((0, "args", "dueInSeconds"), "greater_than_equal")],
        ),
        (
            [{"type": "create_task", "args": {"title": "t", "dueInSeconds": "60"}}],
            [((0, "args", "dueInSeconds"), "int_type")],
        ),
        (
            [{"type": "create_task", "args": {"title": "t", "dueInSeconds": True}}],
            [((0, "args", "dueInSeconds"), "int_type")],
        ),
        (
            [{"type": "create_task", "args": {"title": "t", "priority": 1}}],
            [((0, "args", "priority"), "extra_forbidden")],
        ),
        (one("create_note", patientId="{patientId}"), [((0, "args", "body"), "missing")]),
        (
            [{"type": "create_note", "args": {"patientId": "{patientId}", "body": "x" * 10_001}}],
            [((0, "args", "body"), "string_too_long")],
        ),
        (
            [{"type": "draft_email", "args": {"patientId": "p", "body": "b"}}],
            [((0, "args", "subject"), "missing")],
        ),
        (
            [{"type": "draft_sms", "args": {"patientId": "", "body": "b"}}],
            [((0, "args", "patientId"), "string_too_short")],
        ),
        (
            [{"type": "update_patient_fields", "args": {"patientId": "p", "fields": {}}}],
            [((0, "args", "fields"), "too_short")],
        ),
        (
            [{"type": "update_patient_fields", "args": {"patientId": "p", "fields": []}}],
            [((0, "args", "fields"), "dict_type")],
        ),
        (
            [{"type": "delay_seconds", "args": {"seconds": 31_536_001}}],
            [((0, "args", "seconds"), "less_than_equal")],
        ),
        (one("delay_seconds", seconds=1.5), [((0, "args", "seconds"), "int_type")]),
        (one("delay_seconds"), [((0, "args", "seconds"), "missing")]),
    ],
)
def test_invalid_actions(actions: Any, expected: list[tuple[tuple[str | int, ...], str]]) -> None:
    assert locs(validate_actions(actions, None)) == expected


def test_errors_of_every_action_are_reported() -> None:
    actions = [
        VALID[0],
        {"type": "draft_email", "args": {"patientId": "{patientId}", "body": "x"}},
        {"type": "nope", "args": {}},
        {"type": "create_task", "args": {"title": "{oops"}},
    ]
    assert locs(validate_actions(actions, "crm/patient.created")) == [
        ((1, "args", "subject"), "missing"),
        ((2, "type"), "unknown_action_type"),
        ((3, "args", "title"), "template_syntax"),
    ]


def test_placeholders_that_can_never_resolve_for_the_trigger() -> None:
    actions = [
        {"type": "create_note", "args": {"patientId": "{patientId}", "body": "At {appointment.startsAt}"}},
        {
            "type": "update_patient_fields",
            "args": {"patientId": "{patientId}", "fields": {"tags": ["{patient.status}", "{message.body}"]}},
        },
    ]
    errors = validate_actions(actions, "crm/patient.created")
    assert locs(errors) == [
        ((0, "args", "body"), "unresolvable_placeholder"),
        ((1, "args", "fields", "tags", 1), "unresolvable_placeholder"),
    ]
    assert errors[0].msg == "placeholder {appointment.startsAt} can never resolve for crm/patient.created"
    assert validate_actions(actions, "crm/message.drafted")[0].loc == (0, "args", "body")
    assert validate_actions(actions, None) == []  # no trigger: placeholders are only parsed
    assert validate_actions(actions, "crm/unknown") == []  # the caller reports the unknown trigger


def test_patient_field_allowlist_is_optional_at_save_time() -> None:
    actions = [
        {"type": "update_patient_fields", "args": {"patientId": "p", "fields": {"email": "x", "status": "a"}}}
    ]
    assert validate_actions(actions, None) == []
    errors = validate_actions(actions, None, patient_field_allowlist=DEFAULT_PATIENT_FIELD_ALLOWLIST)
    assert locs(errors) == [((0, "args", "fields", "email"), "field_not_allowed")]


def test_check_patient_fields() -> None:
    assert check_patient_fields({"status": "x", "tags": []}, DEFAULT_PATIENT_FIELD_ALLOWLIST) == []
    errors = check_patient_fields(
        {"email": "x", "status": "y", "firstName": "z"}, DEFAULT_PATIENT_FIELD_ALLOWLIST
    )
    assert locs(errors) == [
        (("fields", "email"), "field_not_allowed"),
        (("fields", "firstName"), "field_not_allowed"),
    ]
    assert "email" in errors[0].msg and "status" in errors[0].msg
    assert locs(check_patient_fields({"status": 1}, ())) == [(("fields", "status"), "field_not_allowed")]
    assert locs(check_patient_fields(["status"], ("status",))) == [(("fields",), "dict_type")]


def test_deeply_nested_args_are_refused_without_recursing() -> None:
    deep: Any = "{patientId}"
    for _ in range(100_000):
        deep = [deep]
    actions = one("update_patient_fields", patientId="p", fields={"tags": deep})
    assert locs(validate_actions(actions, "crm/patient.created")) == [((0, "args"), "too_deep")]
    shallow = one("update_patient_fields", patientId="p", fields={"tags": [["{patient.nope}"]]})
    assert locs(validate_actions(shallow, "crm/patient.created")) == [
        ((0, "args", "fields", "tags", 0, 0), "unresolvable_placeholder")
    ]
