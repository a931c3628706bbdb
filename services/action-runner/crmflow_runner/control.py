"""Re-plans and cancellations of waiting runs (SPEC section 8), applied in the batch's transaction
at their place in the partition (``Executor.execute`` runs the commands before them first).

A ``replan`` moves the not yet sent resumes of the rule's runs that follow the changed field to the
due time computed from the new value (action log ``rescheduled`` with ``from``/``to``); a value
that is not a date-time (null) cancels those runs. A ``cancel`` cancels the rule's waiting runs
carrying its key, also a resume already sent: the executor claims only pending or emitted rows.
Both are idempotent: a redelivered re-plan finds the due time already moved (no second log), a
redelivered cancel finds nothing left waiting.

Set-wise: a run of consecutive control commands is applied with one lookup per kind for all of
them, then one statement each for the moved resumes, the cancelled resumes and the stopped runs,
and its logs are copied in bulk. The commands are applied in order in Python over the rows looked
up, so a command sees what the earlier ones of the run did (a resume moved twice: two chained
``rescheduled`` logs; a resume stopped: no later command touches it), exactly as one by one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from crmflow_runner.flow_control import end_enrollments
from crmflow_runner.run_context import DeferredWrites, PracticeZones, db_now
from crmflow_runner.statements import (
    BOUND_RESUMES,
    CANCEL_RESUMES,
    CANCELLABLE_RESUMES,
    MOVE_RESUMES,
    STOP_RUNS,
    action_log_row,
)

ReplanKey = tuple[str, str, str, str, str]  # practice, entity, rule, entity type, field
CancelKey = tuple[str, str, str]  # practice, rule, cancel key


@dataclass
class _Resume:
    """A looked-up resume as the commands applied so far left it."""

    run_id: str
    action_index: int
    due_at: datetime
    binding: Mapping[str, Any]
    command: Mapping[str, Any]
    stopped: bool = False


@dataclass
class _Changes:
    """What the commands did, written once they are all applied."""

    moved: dict[tuple[str, int], datetime] = field(default_factory=dict)
    cancelled: dict[tuple[str, int], None] = field(default_factory=dict)
    stopped_runs: dict[str, tuple[str, str]] = field(default_factory=dict)  # the first stop wins
    enrolled: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # stopped runs holding a key
    logs: DeferredWrites = field(default_factory=DeferredWrites)


def apply(conn: Connection, commands: Sequence[ControlCommandDict], zones: PracticeZones) -> None:
    """Apply consecutive control commands (none: nothing), in order, as if one by one."""
    if not commands:
        return
    replan_keys = {_replan_key(c): None for c in commands if c["kind"] == "replan"}
    cancel_keys = {_cancel_key(c): None for c in commands if c["kind"] == "cancel"}
    resumes: dict[tuple[str, int], _Resume] = {}
    bound = _lookup(conn, BOUND_RESUMES, list(replan_keys), _REPLAN_COLUMNS, resumes)
    cancellable = _lookup(conn, CANCELLABLE_RESUMES, list(cancel_keys), _CANCEL_COLUMNS, resumes)
    changes = _Changes()
    now: datetime | None = None
    for c in commands:
        if c["kind"] == "replan":
            rows = [r for r in bound.get(_replan_key(c), []) if not r.stopped]
            if rows:
                now = now or db_now(conn)  # once per run of commands
                _replan(c, rows, now, zones, changes)
        else:
            rows = [r for r in cancellable.get(_cancel_key(c), []) if not r.stopped]
            _cancel(c, rows, changes)
    _write(conn, changes)


_REPLAN_COLUMNS = ("practice_id", "entity_id", "rule_id", "entity_type", "field")
_CANCEL_COLUMNS = ("practice_id", "rule_id", "cancel_key")


def _replan_key(c: ReplanCommandDict) -> ReplanKey:
    return (c["practiceId"], c["entityId"], c["ruleId"], c["entityType"], c["field"])


def _cancel_key(c: CancelCommandDict) -> CancelKey:
    return (c["practiceId"], c["ruleId"], c["cancelKey"])


def _lookup(
    conn: Connection,
    statement: Any,
    keys: Sequence[tuple[str, ...]],
    names: Sequence[str],
    resumes: dict[tuple[str, int], _Resume],
) -> dict[Any, list[_Resume]]:
    """Key -> its resumes (locked, in run id and action index order); one resume found by several
    keys, or by both lookups, is one ``_Resume`` (what a command does, the later ones see)."""
    if not keys:
        return {}
    params = {name: [key[i] for key in keys] for i, name in enumerate(names)}
    found: dict[Any, list[_Resume]] = {}
    for row in conn.execute(statement, params):
        ident = (str(row.run_id), row.action_index)
        resume = resumes.setdefault(
            ident, _Resume(ident[0], row.action_index, row.due_at, row.binding or {}, row.command)
        )
        found.setdefault(keys[row.key - 1], []).append(resume)
    return found


def _cancel(c: CancelCommandDict, rows: Sequence[_Resume], changes: _Changes) -> None:
    for row in rows:
        _stop(row, RunStatus.CANCELLED, f"cancelled by event {c['eventId']}", c["eventId"], changes)


def _replan(
    c: ReplanCommandDict, rows: Sequence[_Resume], now: datetime, zones: PracticeZones, changes: _Changes
) -> None:
    at = parse_at(c.get("value"))
    field_name = f"{c['entityType']}.{c['field']}"
    for row in rows:
        due = None if at is None else _due_at(at, row.binding, zones.get(c["practiceId"]))
        if due is None:
            reason = f"{field_name} is no longer a date-time (event {c['eventId']})"
            _stop(row, RunStatus.CANCELLED, reason, c["eventId"], changes)
            continue
        if due == row.due_at:
            continue  # a redelivered re-plan, or a change that does not move the due time
        if decide(due, now, row.binding.get("ifPast", "run")) == "skip":
            _stop(row, RunStatus.SKIPPED, SKIPPED_REASON, c["eventId"], changes)
            continue
        moved = {"from": row.due_at.isoformat(), "to": due.isoformat(), "eventId": c["eventId"]}
        row.due_at = changes.moved[(row.run_id, row.action_index)] = due
        _log(changes, row, row.action_index - 1, DELAY_UNTIL, ActionStatus.RESCHEDULED, result=moved)
        metrics.ACTIONS.labels(DELAY_UNTIL, ActionStatus.RESCHEDULED).inc()


def _due_at(at: datetime, binding: Mapping[str, Any], zone_name: str) -> datetime | None:
    """The due time of a run following a field that became ``at`` (None: outside the years 1-9999)."""
    try:
        return due_at(
            at, int(binding["offsetSeconds"]), parse_local_time(binding.get("atLocalTime")), zone_name
        )
    except DueTimeOutOfRange:
        return None


def _stop(row: _Resume, status: RunStatus, error: str, event_id: str, changes: _Changes) -> None:
    """End the waiting run of resume ``row`` with ``status``; its remaining actions are logged
    ``skipped`` with the event that stopped it."""
    row.stopped = True
    changes.cancelled[(row.run_id, row.action_index)] = None
    changes.stopped_runs.setdefault(row.run_id, (status.value, error))  # later: no longer waiting
    if row.command.get("enrollmentKey"):
        changes.enrolled[row.run_id] = row.command
    actions = row.command.get("actions") or []
    for index in range(row.action_index, len(actions)):
        action_type = str((actions[index] or {}).get("type"))
        skipped = {"eventId": event_id}
        _log(changes, row, index, action_type, ActionStatus.SKIPPED, result=skipped, error=error)
        metrics.ACTIONS.labels(action_type, ActionStatus.SKIPPED).inc()
    metrics.RUNS.labels(status).inc()


def _log(
    changes: _Changes,
    row: _Resume,
    index: int,
    action_type: str,
    status: ActionStatus,
    *,
    result: dict[str, Any],
    error: str | None = None,
) -> None:
    logged = action_log_row(
        row.command["practiceId"], row.run_id, 1, index, action_type, None, status, result=result, error=error
    )
    changes.logs.add(automation_action_logs, logged)


def _write(conn: Connection, changes: _Changes) -> None:
    if changes.moved:
        moved = list(changes.moved.items())
        params = {
            "run_id": [run_id for (run_id, _), _ in moved],
            "action_index": [index for (_, index), _ in moved],
            "due_at": [due for _, due in moved],
        }
        conn.execute(MOVE_RESUMES, params)
    if changes.cancelled:
        keys = list(changes.cancelled)
        conn.execute(CANCEL_RESUMES, {"run_id": [k[0] for k in keys], "action_index": [k[1] for k in keys]})
    if changes.stopped_runs:
        runs = list(changes.stopped_runs.items())
        params = {
            "run_id": [run_id for run_id, _ in runs],
            "status": [status for _, (status, _) in runs],
            "error": [error for _, (_, error) in runs],
        }
        conn.execute(STOP_RUNS, params)
        end_enrollments(conn, changes.enrolled.values())
    changes.logs.flush(conn, [automation_action_logs])
