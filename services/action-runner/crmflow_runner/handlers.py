"""The effect of each action type. Handlers check everything they can before writing, so a
permanent error leaves nothing behind; the executor owns transactions, logs and idempotency."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from crmflow.actions import check_patient_fields
from crmflow.crm.entities import NotFound, update_patient
from crmflow.crm.models import PatientUpdate
from crmflow.crm.serialize import DRAFT_FIELDS, to_json
from crmflow.db.tables import message_drafts, notes, tasks
from crmflow.deliveries import CAPPED
from crmflow.outbox import emit
from crmflow_runner.errors import PermanentActionError, SkipAction, field_errors
from crmflow_runner.reach import DRAFTED_SINCE, over_cap, read_reach
from crmflow_runner.run_context import RunContext

Handler = Callable[[RunContext, Any], dict[str, Any]]


def create_note(ctx: RunContext, args: Any) -> dict[str, Any]:
    ctx.patients.get(ctx.practice_id, args.patientId)
    note_id = str(uuid.uuid4())
    ctx.writes.add(
        notes,
        {
            "id": note_id,
            "practice_id": ctx.practice_id,
            "patient_id": args.patientId,
            "body": args.body,
            "run_id": ctx.run_id,
        },
    )
    return {"noteId": note_id}


def create_task(ctx: RunContext, args: Any) -> dict[str, Any]:
    if args.patientId is not None:
        ctx.patients.get(ctx.practice_id, args.patientId)
    task_id = str(uuid.uuid4())
    due_at = ctx.db_now() + timedelta(seconds=args.dueInSeconds) if args.dueInSeconds is not None else None
    ctx.writes.add(
        tasks,
        {
            "id": task_id,
            "practice_id": ctx.practice_id,
            "patient_id": args.patientId,
            "title": args.title,
            "description": args.description,
            "status": "draft",
            "due_at": due_at,
            "assignee": args.assignee,
            "run_id": ctx.run_id,
        },
    )
    return {"taskId": task_id, "status": "draft"}


def _draft(ctx: RunContext, args: Any, channel: str, subject: str | None) -> dict[str, Any]:
    patient = ctx.patients.get(ctx.practice_id, args.patientId)
    to_address = patient["phone"] if channel == "sms" else patient["email"]
    if not to_address:
        kind = "phone number" if channel == "sms" else "email address"
        raise PermanentActionError(f"patient {args.patientId} has no {kind}")
    conn = ctx.patients.conn
    reach = read_reach(conn, ctx.practice_id)
    if reach.caps is not None and over_cap(
        conn, DRAFTED_SINCE, ctx.practice_id, args.patientId, reach, ctx.db_now()
    ):
        raise SkipAction(CAPPED)  # SPEC section 13: drafts count toward the caps as messages do
    row = (
        conn.execute(
            message_drafts.insert()
            .values(
                practice_id=ctx.practice_id,
                patient_id=args.patientId,
                channel=channel,
                to_address=to_address,
                subject=subject,
                body=args.body,
                run_id=ctx.run_id,
            )
            .returning(message_drafts)
        )
        .mappings()
        .one()
    )
    draft = to_json(row, DRAFT_FIELDS)
    emit(
        conn,
        ctx.practice_id,
        "crm/message.drafted",
        draft["id"],
        {"message": draft, "patient": patient},
        ctx.cause,
    )
    return {"draftId": draft["id"], "channel": channel}


def draft_sms(ctx: RunContext, args: Any) -> dict[str, Any]:
    return _draft(ctx, args, "sms", None)


def draft_email(ctx: RunContext, args: Any) -> dict[str, Any]:
    return _draft(ctx, args, "email", args.subject)


def make_update_patient_fields(allowlist: Sequence[str]) -> Handler:
    def update_patient_fields(ctx: RunContext, args: Any) -> dict[str, Any]:
        errors = check_patient_fields(args.fields, allowlist)
        if errors:
            raise PermanentActionError("; ".join(e.msg for e in errors))
        try:
            values = PatientUpdate.model_validate(args.fields).values()
        except ValidationError as exc:
            raise PermanentActionError(f"invalid fields: {field_errors(exc)}") from None
        ctx.patients.get(ctx.practice_id, args.patientId)
        try:
            after, changes = update_patient(
                ctx.patients.conn, ctx.practice_id, args.patientId, values, ctx.cause
            )
        except NotFound as exc:
            raise PermanentActionError(str(exc)) from None
        ctx.patients.put(ctx.practice_id, after)
        return {"patientId": after["id"], "changed": sorted(changes)}

    return update_patient_fields


def build_handlers(allowlist: Sequence[str]) -> dict[str, Handler]:
    return {
        "create_note": create_note,
        "create_task": create_task,
        "draft_sms": draft_sms,
        "draft_email": draft_email,
        "update_patient_fields": make_update_patient_fields(allowlist),
    }


def parse_args(model: type[BaseModel], args: Any) -> BaseModel:
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise PermanentActionError(f"invalid args: {field_errors(exc)}") from None
