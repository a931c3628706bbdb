"""Send actions in a run (SPEC section 9): decided in line, delivered off the partition's path.

When a run reaches ``send_email`` or ``send_sms`` (or another action of ``BUILDERS``), the executor
calls :meth:`Sends.execute` in the batch's transaction, which

- logs the action ``skipped`` (reason ``no_consent``, ``no_address`` or ``capped``) and lets the
  run go on, when the message may not be sent;
- or, inside the practice's quiet hours, logs it ``deferred`` with ``dueAt`` and parks the run
  (``waiting``) in ``scheduled_resumes`` at this same action, due when they end: the scheduler
  resumes it through the patient's partition like a delay, and the action is decided again then;
- or queues a delivery (``crmflow.deliveries.queue``: a ``message_deliveries`` row whose
  idempotency key is unique per (run, action index)), writes the action's idempotency key
  (``action_executions``) and logs it ``queued``; the run is ``waiting``. The delivery worker
  (``sending.queue``) sends it, records the outcome, and resumes the run at the next action
  through the patient's partition, so the patient's later actions of the run keep their order.

Nothing here talks to a provider, so a slow provider never holds the partition.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import text

from crmflow import deliveries
from crmflow.actions import ACTION_TYPES
from crmflow.commands import run_command_key
from crmflow.db.tables import action_executions, automation_action_logs, scheduled_resumes
from crmflow.quiet_hours import in_quiet_hours, quiet_hours_end
from crmflow.statuses import ActionStatus
from crmflow.templates import render_args
from crmflow_runner import metrics
from crmflow_runner.handlers import parse_args
from crmflow_runner.reach import CAPPED_CHANNELS, SENT_SINCE, over_cap, read_reach
from crmflow_runner.run_context import RunContext
from crmflow_runner.sending.outcome import OutboundMessage
from crmflow_runner.statements import execution_row, log_row, resume_row
from crmflow_runner.webhook_message import webhook_message

QUIET_CHANNELS: Final = frozenset({"email", "sms"})
"""Channels quiet hours apply to (SPEC section 8: not webhooks, not drafts)."""


@dataclass(frozen=True)
class Skip:
    """The message may not be sent; the action is logged ``skipped`` with ``reason``."""

    reason: str


PARKED: Final = datetime(9999, 1, 1, tzinfo=UTC)
"""Due time of a run's rest while its message is being delivered: never, until the worker says."""

MessageBuilder = Callable[[RunContext, Any, str], OutboundMessage | Skip]
"""(run, parsed args, idempotency key) -> the message to deliver, or why not."""


def email_message(ctx: RunContext, args: Any, key: str) -> OutboundMessage | Skip:
    return _patient_message(ctx, args, key, "email", args.subject)


def sms_message(ctx: RunContext, args: Any, key: str) -> OutboundMessage | Skip:
    return _patient_message(ctx, args, key, "sms", None)


def _patient_message(
    ctx: RunContext, args: Any, key: str, channel: Literal["email", "sms"], subject: str | None
) -> OutboundMessage | Skip:
    patient = ctx.patients.get(ctx.practice_id, args.patientId)
    address, reason = deliveries.recipient(patient, channel)
    if address is None:
        return Skip(reason or deliveries.NO_ADDRESS)
    return OutboundMessage(
        channel=channel,
        idempotency_key=key,
        practice_id=ctx.practice_id,
        to=address,
        body=args.body,
        subject=subject,
    )


BUILDERS: dict[str, MessageBuilder] = {
    "send_email": email_message,
    "send_sms": sms_message,
    "send_webhook": webhook_message,
}
"""Send action type -> its message builder. Another channel's action adds its builder here (and
its channel to ``crmflow.actions.SEND_CHANNELS``)."""


_DEFER = text(
    """
    INSERT INTO scheduled_resumes (run_id, action_index, practice_id, due_at, command, command_key,
                                   status, rule_id, cancel_keys)
    VALUES (:run_id, :action_index, :practice_id, :due_at, CAST(:command AS jsonb), :command_key,
            'pending', :rule_id, :cancel_keys)
    ON CONFLICT (run_id, action_index) DO UPDATE
        SET due_at = EXCLUDED.due_at, status = 'pending', resumed_at = NULL
    """
)


class Sends:
    def __init__(
        self, builders: Mapping[str, MessageBuilder] | None = None, *, max_attempts: int = 5
    ) -> None:
        self.builders = dict(BUILDERS if builders is None else builders)
        self.max_attempts = max_attempts

    def handles(self, action_type: str) -> bool:
        return action_type in self.builders

    def execute(self, ctx: RunContext, index: int, action_type: str, raw_args: Any) -> bool:
        """Decide send action ``index`` of the run; True when the run now waits (deferred or
        queued), False when it goes on (skipped). Raises PermanentActionError like a handler."""
        rendered = render_args(raw_args if raw_args is not None else {}, ctx.context)
        args = parse_args(ACTION_TYPES[action_type], rendered)
        key = deliveries.run_key(ctx.run_id, index)
        built = self.builders[action_type](ctx, args, key)
        if isinstance(built, Skip):
            self._skip(ctx, index, action_type, rendered, built.reason)
            return False
        conn = ctx.patients.conn
        reach = read_reach(conn, ctx.practice_id)
        now = ctx.db_now()
        if built.channel in QUIET_CHANNELS and in_quiet_hours(now, reach.time_zone, reach.quiet):
            self._defer(ctx, index, action_type, rendered, quiet_hours_end(now, reach.time_zone, reach.quiet))
            return True
        patient_id = getattr(args, "patientId", None)
        capped = built.channel in CAPPED_CHANNELS and patient_id is not None
        if capped and over_cap(conn, SENT_SINCE, ctx.practice_id, str(patient_id), reach, now):
            self._skip(ctx, index, action_type, rendered, deliveries.CAPPED)
            return False
        delivery_id = deliveries.queue(
            conn,
            practice_id=ctx.practice_id,
            key=key,
            channel=built.channel,
            message=message_json(built),
            patient_id=patient_id,
            run_id=ctx.run_id,
            action_index=index,
            action_type=action_type,
            command=dict(ctx.command),
            command_key=run_command_key(ctx.command).decode(),
            max_attempts=self.max_attempts,
        )
        ctx.writes.add(action_executions, execution_row(ctx, index))
        # The rest of the run, parked until the delivery is done (the worker makes it due): a
        # cancelOn event meanwhile finds and cancels it, and the worker then sends nothing.
        ctx.writes.add(scheduled_resumes, resume_row(ctx, index + 1, PARKED))
        result = {"deliveryId": delivery_id, "channel": built.channel}
        _log(ctx, index, action_type, rendered, ActionStatus.QUEUED, result)
        return True

    @staticmethod
    def _skip(ctx: RunContext, index: int, action_type: str, rendered: Any, reason: str) -> None:
        ctx.writes.add(action_executions, execution_row(ctx, index))
        _log(ctx, index, action_type, rendered, ActionStatus.SKIPPED, {"reason": reason}, error=reason)

    @staticmethod
    def _defer(ctx: RunContext, index: int, action_type: str, rendered: Any, due: datetime) -> None:
        """Park the run at this action until ``due`` (an upsert: a resume deferred again, if quiet
        hours were lengthened meanwhile, reuses its row)."""
        row = resume_row(ctx, index, due)
        ctx.patients.conn.execute(
            _DEFER,
            {
                **{k: row[k] for k in ("run_id", "action_index", "practice_id", "due_at", "command_key")},
                "command": json.dumps(row["command"]),
                "rule_id": row["rule_id"],
                "cancel_keys": row["cancel_keys"],
            },
        )
        _log(ctx, index, action_type, rendered, ActionStatus.DEFERRED, {"dueAt": str(due.isoformat())})


def message_json(message: OutboundMessage) -> dict[str, Any]:
    """What the delivery worker needs to rebuild ``message`` (kept until the delivery is final)."""
    return {
        "to": message.to,
        "subject": message.subject,
        "body": message.body,
        "headers": dict(message.headers),
    }


def _log(
    ctx: RunContext,
    index: int,
    action_type: str,
    rendered: Any,
    status: ActionStatus,
    result: Any,
    *,
    error: str | None = None,
) -> None:
    """Log action ``index``'s outcome in the run's writes and count it."""
    ctx.writes.add(
        automation_action_logs, log_row(ctx, index, action_type, rendered, status, result=result, error=error)
    )
    metrics.ACTIONS.labels(action_type, status).inc()
