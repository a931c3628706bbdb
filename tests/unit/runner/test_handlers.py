"""The action handlers: the rows they defer, and the checks that refuse before anything is written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crmflow.actions import ACTION_TYPES
from crmflow.db.tables import notes, tasks
from crmflow_runner.errors import PermanentActionError
from crmflow_runner.handlers import Handler, build_handlers, parse_args
from tests.unit.runner.offline import NOW, PRACTICE, ClockedContext, context_for, patient_json

ALLOWLIST = ["status", "tags"]
HANDLERS = build_handlers(ALLOWLIST)


def call(ctx: ClockedContext, action_type: str, args: dict[str, Any]) -> dict[str, Any]:
    handler: Handler = HANDLERS[action_type]
    return handler(ctx, parse_args(ACTION_TYPES[action_type], args))


def test_create_note_defers_one_note_of_the_run() -> None:
    patient = patient_json()
    ctx = context_for(patient, [])
    result = call(ctx, "create_note", {"patientId": patient["id"], "body": "Hi Ann"})
    (row,) = ctx.writes.rows[notes]
    assert row == {
        "id": result["noteId"],
        "practice_id": PRACTICE,
        "patient_id": patient["id"],
        "body": "Hi Ann",
        "run_id": ctx.run_id,
    }


def test_create_task_is_a_draft_due_after_the_database_clock() -> None:
    patient = patient_json()
    ctx = context_for(patient, [])
    result = call(ctx, "create_task", {"title": "Call", "dueInSeconds": 90, "assignee": "desk"})
    (row,) = ctx.writes.rows[tasks]
    assert result == {"taskId": row["id"], "status": "draft"}
    assert (row["due_at"], row["status"], row["patient_id"], row["assignee"]) == (
        NOW + timedelta(seconds=90),
        "draft",
        None,
        "desk",
    )
    call(ctx, "create_task", {"title": "Someday", "patientId": patient["id"]})
    assert ctx.writes.rows[tasks][1]["due_at"] is None


@pytest.mark.parametrize(
    ("action_type", "args", "error"),
    [
        ("create_note", {"patientId": "not-a-uuid", "body": "x"}, "is not a patient id"),
        ("create_task", {"title": "t", "patientId": "{oops}"}, "is not a patient id"),
        ("draft_sms", {"patientId": "SELF", "body": "x"}, "has no phone number"),
        ("draft_email", {"patientId": "SELF", "subject": "s", "body": "x"}, "has no email address"),
        ("update_patient_fields", {"patientId": "SELF", "fields": {"email": "x@y.z"}}, "may not be updated"),
        ("update_patient_fields", {"patientId": "SELF", "fields": {"tags": "vip"}}, "invalid fields"),
    ],
)
def test_a_refused_action_writes_nothing(action_type: str, args: dict[str, Any], error: str) -> None:
    patient = patient_json(email=None, phone=None)
    ctx = context_for(patient, [])
    args = {k: patient["id"] if v == "SELF" else v for k, v in args.items()}
    with pytest.raises(PermanentActionError, match=error):
        call(ctx, action_type, args)
    assert not ctx.writes.rows


def test_the_allowlist_names_what_may_be_updated() -> None:
    patient = patient_json()
    ctx = context_for(patient, [])
    with pytest.raises(PermanentActionError, match=r"allowed: status, tags"):
        call(ctx, "update_patient_fields", {"patientId": patient["id"], "fields": {"firstName": "Bo"}})


def test_args_of_the_wrong_shape_are_a_permanent_error() -> None:
    with pytest.raises(PermanentActionError, match="invalid args: "):
        parse_args(ACTION_TYPES["create_note"], {"patientId": "p"})
