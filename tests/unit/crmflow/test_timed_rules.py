"""Save-time validation of delay_until and cancelOn (SPEC section 8): each problem at its field."""

from __future__ import annotations

from typing import Any

import pytest

from crmflow.cancel_on import MAX_ENTRIES, cancel_key, match_value
from crmflow.rule_validation import validate_rule
from crmflow.settings import DEFAULT_PATIENT_FIELD_ALLOWLIST

CREATED = "crm/appointment.created"
UPDATED = "crm/appointment.updated"
CANCELLED = {"field": "changes.status.to", "operator": "equals", "value": "cancelled"}


def delay_until(**args: Any) -> list[dict[str, Any]]:
    return [{"type": "delay_until", "args": args}]


def errors_of(actions: list[dict[str, Any]], cancel_on: Any = None, trigger: str = CREATED) -> set[tuple]:
    found = validate_rule(trigger, None, actions, DEFAULT_PATIENT_FIELD_ALLOWLIST, cancel_on)
    return {(e.loc, e.type) for e in found}


def test_a_reminder_a_day_before_the_appointment_at_nine_is_valid() -> None:
    actions = delay_until(
        at="{appointment.startsAt}", offsetSeconds=-86400, atLocalTime="09:00", ifPast="skip"
    )
    cancel_on = [{"eventName": UPDATED, "match": "appointment.id", "conditionsJson": CANCELLED}]
    assert errors_of(actions, cancel_on) == set()
    assert errors_of(delay_until(at="2026-03-12T09:00:00+01:00")) == set()


@pytest.mark.parametrize(
    ("args", "loc", "kind"),
    [
        ({"at": "next tuesday"}, ("actionsJson", 0, "args", "at"), "delay_until_at"),
        ({"at": "2026-03-12T09:00:00"}, ("actionsJson", 0, "args", "at"), "delay_until_at"),  # no offset
        (
            {"at": "{appointment.startsAt}", "offsetSeconds": 31_536_001},
            ("actionsJson", 0, "args", "offsetSeconds"),
            "delay_until_offset",
        ),
        (
            {"at": "{appointment.startsAt}", "offsetSeconds": "60"},
            ("actionsJson", 0, "args", "offsetSeconds"),
            "delay_until_offset",
        ),
        (
            {"at": "{appointment.startsAt}", "atLocalTime": "24:00"},
            ("actionsJson", 0, "args", "atLocalTime"),
            "local_time",
        ),
        (
            {"at": "{appointment.startsAt}", "ifPast": "later"},
            ("actionsJson", 0, "args", "ifPast"),
            "delay_until_if_past",
        ),
        ({"at": "{appointment.endsAt}"}, ("actionsJson", 0, "args", "at"), "unresolvable_placeholder"),
        ({"offsetSeconds": 0}, ("actionsJson", 0, "args", "at"), "missing"),
    ],
)
def test_delay_until_problems_are_reported_at_their_field(
    args: dict[str, Any], loc: tuple, kind: str
) -> None:
    assert (loc, kind) in errors_of(delay_until(**args))


@pytest.mark.parametrize(
    ("cancel_on", "loc", "kind"),
    [
        (
            [{"eventName": "crm/appointment.deleted", "match": "appointment.id"}],
            ("cancelOn", 0, "eventName"),
            "unknown_trigger",
        ),
        ([{"eventName": UPDATED, "match": "appointment.nope"}], ("cancelOn", 0, "match"), "match_path"),
        (
            [{"eventName": UPDATED, "match": "changes.status"}],
            ("cancelOn", 0, "match"),
            "match_path",
        ),  # not on the trigger
        ([{"eventName": UPDATED}], ("cancelOn", 0, "match"), "match_path"),
        (
            [{"eventName": UPDATED, "match": "appointment.id", "when": 1}],
            ("cancelOn", 0, "when"),
            "extra_forbidden",
        ),
        (
            [
                {
                    "eventName": UPDATED,
                    "match": "appointment.id",
                    "conditionsJson": {"field": "x", "operator": "resembles"},
                }
            ],
            ("cancelOn", 0, "conditionsJson", "operator"),
            "unknown_operator",
        ),
        ([{"eventName": UPDATED, "match": "appointment.id"}] * (MAX_ENTRIES + 1), ("cancelOn",), "too_long"),
        ({"eventName": UPDATED}, ("cancelOn",), "list_type"),
    ],
)
def test_cancel_on_problems_are_reported_at_their_field(cancel_on: Any, loc: tuple, kind: str) -> None:
    assert (loc, kind) in errors_of(delay_until(at="{appointment.startsAt}"), cancel_on)


def test_cancel_keys_are_the_entry_and_the_json_of_the_value() -> None:
    data = {"appointment": {"id": "a1", "n": 1}}
    assert cancel_key(0, match_value(data, ("appointment", "id"))) == '0:"a1"'
    assert cancel_key(2, match_value(data, ("appointment", "n"))) == "2:1"
    assert cancel_key(1, {"b": 1, "a": 2}) == cancel_key(1, {"a": 2, "b": 1})
    assert match_value(data, ("appointment", "missing")) is None
