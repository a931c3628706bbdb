"""Enrollment policy and pause of a rule (SPEC section 13): validation at their paths, and the
enrollment key an event is limited by."""

from __future__ import annotations

from typing import Any

import pytest

from crmflow.enrollment import Reenroll, enrollment_errors, enrollment_key, policy
from crmflow.pause import paused_errors
from crmflow.rule_validation import validate_rule

UPDATED = "crm/appointment.updated"
NOTE = [{"type": "create_note", "args": {"patientId": "{patientId}", "body": "hi"}}]


def errors_of(enrollment: Any = None, paused: Any = None) -> list[tuple[tuple, str]]:
    found = validate_rule(UPDATED, None, NOTE, [], None, enrollment, paused)
    return [(e.loc, e.type) for e in found]


def test_a_valid_policy_and_pause_have_no_errors() -> None:
    assert errors_of({"key": "appointment.id", "reenroll": "never"}, "hold") == []
    assert errors_of({"reenroll": "after_finish"}, "skip") == []
    assert errors_of(None, None) == []


@pytest.mark.parametrize(
    ("enrollment", "loc", "kind"),
    [
        ({"key": "appointment.id"}, ("enrollment", "reenroll"), "enum"),
        ({"key": "appointment.id", "reenroll": "sometimes"}, ("enrollment", "reenroll"), "enum"),
        ({"key": "appointment.nope", "reenroll": "never"}, ("enrollment", "key"), "key_path"),
        ({"key": "", "reenroll": "never"}, ("enrollment", "key"), "key_path"),
        ({"key": 3, "reenroll": "never"}, ("enrollment", "key"), "key_path"),
        ({"reenroll": "never", "limit": 1}, ("enrollment", "limit"), "extra_forbidden"),
        (["never"], ("enrollment",), "dict_type"),
    ],
)
def test_enrollment_problems_are_reported_at_their_field(enrollment: Any, loc: tuple, kind: str) -> None:
    assert (loc, kind) in errors_of(enrollment)


def test_an_unknown_trigger_does_not_hide_the_policy_shape() -> None:
    assert [(e.loc, e.type) for e in enrollment_errors({"reenroll": "x"}, None)] == [(("reenroll",), "enum")]


@pytest.mark.parametrize("paused", ["stop", "", 1, True])
def test_a_bad_pause_is_reported_at_paused(paused: Any) -> None:
    assert ((("paused",), "enum")) in errors_of(paused=paused)
    assert paused_errors(paused)


def test_the_policy_of_a_saved_rule() -> None:
    assert policy(None) == (None, Reenroll.ALWAYS)
    assert policy({"key": "appointment.id", "reenroll": "never"}) == (("appointment", "id"), Reenroll.NEVER)
    assert policy({"reenroll": "after_finish"}) == (None, Reenroll.AFTER_FINISH)


def test_the_enrollment_key_is_the_json_of_the_value_or_the_patient() -> None:
    data = {"appointment": {"id": "a1", "n": 1}}
    assert enrollment_key(("appointment", "id"), data, "p1") == '"a1"'
    assert enrollment_key(("appointment", "n"), data, "p1") == "1"  # 1 and "1" are two keys
    assert enrollment_key(("appointment", "missing"), data, "p1") is None  # not limited
    assert enrollment_key(None, data, "p1") == "patient:p1"
    assert enrollment_key(None, data, None) is None
