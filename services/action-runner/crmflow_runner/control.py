"""Re-plans and cancellations of waiting runs (SPEC section 8), applied in the batch's transaction
at their place in the partition (``Executor.execute`` runs the commands before them first).

A ``replan`` moves the not yet sent resumes of the rule's runs that follow the changed field to the
due time computed from the new value (action log ``rescheduled`` with ``from``/``to``); a value
that is not a date-time (null) cancels those runs. A ``cancel`` cancels the rule's waiting runs
carrying its key, also a resume already sent: the executor claims only pending or emitted rows.
Both are idempotent: a redelivered re-plan finds the due time already moved (no second log), a
redelivered cancel finds nothing left waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from crmflow.actions import DELAY_UNTIL
from crmflow.commands import CancelCommandDict, ControlCommandDict, ReplanCommandDict
from crmflow.db.tables import automation_action_logs
from crmflow.due_time import SKIPPED_REASON, DueTimeOutOfRange, decide, due_at, parse_at
from crmflow.statuses import ActionStatus, RunStatus
from crmflow.timezones import parse_local_time
from crmflow_runner import metrics
from crmflow_runner.run_context import PracticeZones, db_now
from crmflow_runner.statements import (
    BOUND_RESUMES,
    CANCEL_RESUME,
    CANCELLABLE_RESUMES,
    MOVE_RESUME,
    STOP_RUN,
)


def apply(conn: Connection, command: ControlCommandDict, zones: PracticeZones) -> None:
    if command["kind"] == "replan":
        replan(conn, command, zones)
    else:
        cancel(conn, command)


def cancel(conn: Connection, c: CancelCommandDict) -> None:
    params = {"practice_id": c["practiceId"], "rule_id": c["ruleId"], "cancel_key": c["cancelKey"]}
    for row in conn.execute(CANCELLABLE_RESUMES, params).all():
        stop(conn, row, RunStatus.CANCELLED, f"cancelled by event {c['eventId']}", c["eventId"])


def replan(conn: Connection, c: ReplanCommandDict, zones: PracticeZones) -> None:
    params = {
        "practice_id": c["practiceId"],
        "rule_id": c["ruleId"],
        "entity_id": c["entityId"],
        "entity_type": c["entityType"],
        "field": c["field"],
    }
    rows = conn.execute(BOUND_RESUMES, params).all()
    if not rows:
        return
    at = parse_at(c.get("value"))
    now = db_now(conn)
    field = f"{c['entityType']}.{c['field']}"
    for row in rows:
        binding: Mapping[str, Any] = row.binding
        due = None if at is None else _due_at(at, binding, zones.get(c["practiceId"]))
        if due is None:
            reason = f"{field} is no longer a date-time (event {c['eventId']})"
            stop(conn, row, RunStatus.CANCELLED, reason, c["eventId"])
            continue
        if due == row.due_at:
            continue  # a redelivered re-plan, or a change that does not move the due time
        if decide(due, now, binding.get("ifPast", "run")) == "skip":
            stop(conn, row, RunStatus.SKIPPED, SKIPPED_REASON, c["eventId"])
            continue
        conn.execute(MOVE_RESUME, {"run_id": row.run_id, "action_index": row.action_index, "due_at": due})
        moved = {"from": row.due_at.isoformat(), "to": due.isoformat(), "eventId": c["eventId"]}
        _log(conn, row, row.action_index - 1, DELAY_UNTIL, ActionStatus.RESCHEDULED, result=moved)
        metrics.ACTIONS.labels(DELAY_UNTIL, ActionStatus.RESCHEDULED).inc()


def _due_at(at: datetime, binding: Mapping[str, Any], zone_name: str) -> datetime | None:
    """The due time of a run following a field that became ``at`` (None: outside the years 1-9999)."""
    try:
        return due_at(
            at, int(binding["offsetSeconds"]), parse_local_time(binding.get("atLocalTime")), zone_name
        )
    except DueTimeOutOfRange:
        return None


def stop(conn: Connection, row: Any, status: RunStatus, error: str, event_id: str) -> None:
    """End the waiting run of resume ``row`` with ``status``; its remaining actions are logged
    ``skipped`` with the event that stopped it."""
    conn.execute(CANCEL_RESUME, {"run_id": row.run_id, "action_index": row.action_index})
    conn.execute(STOP_RUN, {"run_id": row.run_id, "status": status.value, "error": error})
    actions = row.command.get("actions") or []
    for index in range(row.action_index, len(actions)):
        action_type = str((actions[index] or {}).get("type"))
        _log(conn, row, index, action_type, ActionStatus.SKIPPED, result={"eventId": event_id}, error=error)
        metrics.ACTIONS.labels(action_type, ActionStatus.SKIPPED).inc()
    metrics.RUNS.labels(status).inc()


def _log(
    conn: Connection,
    row: Any,
    index: int,
    action_type: str,
    status: ActionStatus,
    *,
    result: dict[str, Any],
    error: str | None = None,
) -> None:
    conn.execute(
        automation_action_logs.insert().values(
            practice_id=row.command["practiceId"],
            run_id=row.run_id,
            action_index=index,
            action_type=action_type,
            args=None,
            status=status.value,
            result=result,
            error=error,
            attempt=1,
        )
    )
