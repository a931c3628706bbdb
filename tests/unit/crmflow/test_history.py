"""Pure parts of rule history and the audit log: the definition a version keeps, what kind of
change a version is, the redaction of secret-named values, and a dead letter's audit entry."""

from __future__ import annotations

import json

import pytest

from crmflow.apikeys import new_key, prefix_of
from crmflow.audit import REDACTED, redact
from crmflow.dlq import DeadLetter
from crmflow.history_record import RuleVersion
from crmflow.rule_history import DEFINITION, change_kind, definition_of
from crmflow.rule_record import Rule
from crmflow.rules_repo import EDITABLE

RULE = {
    "id": "r1",
    "practiceId": "p1",
    "name": "Welcome",
    "enabled": True,
    "triggerEvent": "crm/patient.created",
    "conditionsJson": None,
    "actionsJson": [{"type": "create_note", "args": {"patientId": "{patientId}", "body": "Hi"}}],
    "cancelOn": None,
    "enrollment": {"key": "appointment.id", "reenroll": "never"},
    "paused": None,
    "version": 3,
    "createdAt": "2026-12-07T10:00:00+00:00",
    "updatedAt": "2026-12-07T11:00:00+00:00",
}


def test_a_version_keeps_every_field_a_user_edits_and_nothing_else():
    assert set(DEFINITION) == set(EDITABLE)
    assert set(DEFINITION) == set(Rule.model_fields) - {
        "id",
        "practiceId",
        "version",
        "createdAt",
        "updatedAt",
    }
    assert definition_of(RULE) == {name: RULE[name] for name in DEFINITION}


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"enabled": False}, "disable"),
        ({"name": "Other"}, "update"),
        ({"enabled": False, "name": "Other"}, "update"),
        ({}, "update"),  # a PATCH that restates the rule still makes a version
    ],
)
def test_change_kind(changes, kind):
    before = definition_of(RULE)
    assert change_kind(before, {**before, **changes}) == kind
    if kind == "disable":
        assert change_kind({**before, **changes}, before) == "enable"


def test_a_version_validates_as_the_api_returns_it():
    version = RuleVersion.model_validate(
        {
            "version": 1,
            "definition": definition_of(RULE),
            "changedAt": RULE["createdAt"],
            "changedBy": None,
            "change": "create",
        }
    )
    assert version.restoredFrom is None and version.definition.name == "Welcome"


def test_redact_replaces_values_whose_key_names_a_secret_at_any_depth():
    value = {
        "url": "https://example.test/hook",
        "secret": "s3",
        "signingSecret": "s3",
        "nested": [{"apiKey": "cf_x_y", "password": "p", "token": "t", "keyHash": "h", "prefix": "ab12"}],
        "secretPrefix": None,  # nothing to hide
    }
    assert redact(value) == {
        "url": "https://example.test/hook",
        "secret": REDACTED,
        "signingSecret": REDACTED,
        "nested": [
            {
                "apiKey": REDACTED,
                "password": REDACTED,
                "token": REDACTED,
                "keyHash": REDACTED,
                "prefix": "ab12",
            }
        ],
        "secretPrefix": None,
    }


def test_the_actor_of_a_key_is_its_public_prefix():
    key, prefix = new_key()
    assert prefix_of(key) == prefix
    assert key.startswith(f"cf_{prefix}_")


def letter(headers=(), value: bytes | None = None) -> DeadLetter:
    return DeadLetter(
        partition=0,
        offset=7,
        timestamp=None,
        service="evaluator",
        reason="not_json",
        detail="d",
        source_topic="crm.patient",
        source_partition=2,
        source_offset=41,
        key=b"k",
        value=value,
        headers=tuple(headers),
    )


def test_a_dead_letter_names_its_practice_by_header_or_value_and_its_entry_holds_no_content():
    assert letter([("practiceId", b"p-header")], b'{"practiceId": "p-value"}').practice_id() == "p-header"
    assert (
        letter(value=json.dumps({"practiceId": "p-value", "data": {"x": 1}}).encode()).practice_id()
        == "p-value"
    )
    assert letter(value=b"not json").practice_id() is None
    assert letter(value=b"[1]").practice_id() is None
    entry = letter(value=b'{"patient": {"firstName": "Ada"}}').audit_entry()
    assert entry == {
        "partition": 0,
        "offset": 7,
        "reason": "not_json",
        "service": "evaluator",
        "sourceTopic": "crm.patient",
        "sourcePartition": 2,
        "sourceOffset": 41,
    }
