"""Executes a batch of commands in ONE PostgreSQL transaction (the caller's).

Exactly once in effect: a run row is inserted with ``ON CONFLICT DO NOTHING`` on its
deterministic id, and each action's effect, its log and its idempotency key
(``action_executions``: run id + action index) are written in the same transaction, so a
redelivered command, or a resumed run, finds what was done and does not do it again. The
caller commits, then commits the Kafka offsets.

Re-plans and cancellations (``control.py``) change waiting runs written by earlier commands, so a
batch is executed in segments: the commands before each of them first (their rows written), then
it, then the rest — every command acts at its place in the partition.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Connection

from crmflow.actions import ACTION_TYPES, DELAY_SECONDS, DELAY_UNTIL, DelayUntilArgs
from crmflow.commands import ActionCommandDict, ControlCommandDict, ResumeCommandDict, RunCommandDict
from crmflow.db.tables import action_executions, automation_action_logs, scheduled_resumes
from crmflow.due_time import SKIPPED_REASON, DueTimeOutOfRange, bound_field, decide, due_at, parse_at
from crmflow.statuses import ActionStatus, Evaluation, RunStatus
from crmflow.templates import TemplateSyntaxError, UnresolvedPlaceholder, render_args
from crmflow.timezones import DEFAULT_ZONE, parse_local_time
from crmflow_runner import control, metrics
from crmflow_runner.errors import PermanentActionError, SkipAction
from crmflow_runner.handlers import Handler, parse_args
from crmflow_runner.run_context import DeferredWrites, PatientCache, PracticeZones, RunContext
from crmflow_runner.sending.requeue import requeue
from crmflow_runner.sends import Sends
from crmflow_runner.statements import (
    CLAIM_RESUMES,
    DONE_ACTIONS,
    FINISH_RUNS,
    FLUSH_ORDER,
    INSERT_RUNS,
    MARK_EVENTS,
    RUNNING_AMONG,
    columns,
    execution_row,
    log_row,
    marker_params,
    resume_row,
    run_row,
)

log = logging.getLogger(__name__)
CONTROL_KINDS = frozenset({"replan", "cancel"})


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: RunStatus  # succeeded | failed | waiting | skipped (a delay_until past, ifPast skip)
    error: str | None = None


class Executor:
    def __init__(self, handlers: Mapping[str, Handler], sends: Sends | None = None) -> None:
        self.handlers = handlers
        self.sends = Sends() if sends is None else sends

    # -- commands from Kafka -------------------------------------------------------------
    def execute(
        self, conn: Connection, commands: Sequence[ActionCommandDict], *, attempt: int = 1
    ) -> list[RunOutcome]:
        """Execute a batch in partition order: event markers, new runs, resumed delays, re-plans
        and cancellations."""
        zones = PracticeZones(conn)
        outcomes: list[RunOutcome] = []
        segment: list[ActionCommandDict] = []
        controls: list[ControlCommandDict] = []  # consecutive ones, applied together
        for c in commands:
            if c["kind"] in CONTROL_KINDS:
                outcomes += self._execute_segment(conn, segment, attempt, zones)
                segment = []
                controls.append(cast(ControlCommandDict, c))
            else:
                control.apply(conn, controls, zones)
                controls = []
                segment.append(c)
        control.apply(conn, controls, zones)
        return outcomes + self._execute_segment(conn, segment, attempt, zones)

    def _execute_segment(
        self, conn: Connection, commands: Sequence[ActionCommandDict], attempt: int, zones: PracticeZones
    ) -> list[RunOutcome]:
        if not commands:
            return []
        markers = [marker_params(c) for c in commands if c["kind"] == "event"]
        if markers:  # a redelivered marker twice in a batch: the last one's values, as before
            conn.execute(MARK_EVENTS, columns({m["event_id"]: m for m in markers}))
        requeue(conn, [c for c in commands if c["kind"] == "redeliver"])
        claimed = self._claim_runs(conn, [c for c in commands if c["kind"] == "run"])
        resumed = self._claim_resumes(conn, [c for c in commands if c["kind"] == "resume"])
        work: list[tuple[RunCommandDict, int]] = []
        for c in commands:
            if c["kind"] == "run":
                if claimed.pop(c["runId"], None) is None:
                    continue  # not claimed, or a second copy in this batch
                if c["status"] == Evaluation.MATCHED:
                    work.append((c, 0))
                metrics.RUNS.labels(c["status"] if c["status"] != Evaluation.MATCHED else "started").inc()
            elif c["kind"] == "resume":
                stored = resumed.pop((c["runId"], c["actionIndex"]), None)
                if stored is None:
                    metrics.DUPLICATES.inc()  # resumed already, or a second copy in this batch
                    continue
                work.append((stored, c["actionIndex"]))
        done = self._done_actions(conn, [c["runId"] for c, _ in work])
        return self._execute_runs(conn, work, done, attempt, zones)

    def _claim_runs(self, conn: Connection, runs: Sequence[RunCommandDict]) -> dict[str, bool]:
        """Insert new runs; returns run id -> resuming (True for a run left 'running')."""
        if not runs:
            return {}
        rows = {c["runId"]: run_row(c) for c in runs}
        inserted = {str(run_id) for run_id in conn.execute(INSERT_RUNS, columns(rows)).scalars()}
        claimed = {run_id: False for run_id in inserted}
        others = [run_id for run_id in rows if run_id not in inserted]
        if others:  # redelivered: only a run interrupted while 'running' is picked up again
            running = conn.execute(RUNNING_AMONG, {"ids": others}).scalars()
            resumed = {run_id: True for run_id in running}
            claimed.update(resumed)
            metrics.DUPLICATES.inc(len(others) - len(resumed))
        return claimed

    @staticmethod
    def _claim_resumes(
        conn: Connection, resumes: Sequence[ResumeCommandDict]
    ) -> dict[tuple[str, int], RunCommandDict]:
        """Mark due delays done (in this transaction); returns (run id, index) -> stored command.

        A resume already done (a re-sent or redelivered ResumeCommand) is not returned.
        """
        if not resumes:
            return {}
        keys = {
            "run_id": [c["runId"] for c in resumes],
            "action_index": [c["actionIndex"] for c in resumes],
            "practice_id": [c["practiceId"] for c in resumes],
        }  # a key twice: PostgreSQL updates (and returns) the row once
        rows = conn.execute(CLAIM_RESUMES, keys)
        return {(str(r.run_id), r.action_index): r.command for r in rows}

    @staticmethod
    def _done_actions(conn: Connection, run_ids: Sequence[str]) -> set[tuple[str, int]]:
        if not run_ids:
            return set()
        rows = conn.execute(DONE_ACTIONS, {"ids": list(run_ids)})
        return {(str(r.run_id), r.action_index) for r in rows}

    # -- executing runs -------------------------------------------------------------------
    def _execute_runs(
        self,
        conn: Connection,
        work: Sequence[tuple[RunCommandDict, int]],
        done: set[tuple[str, int]],
        attempt: int,
        zones: PracticeZones,
    ) -> list[RunOutcome]:
        patients = PatientCache(conn)
        patients.preload(
            {(c["practiceId"], c["patientId"]) for c, _ in work if isinstance(c.get("patientId"), str)}
        )
        writes = DeferredWrites()
        outcomes = [
            self._run_actions(RunContext(c, writes, patients, attempt, zones), start, done)
            for c, start in work
        ]
        writes.flush(conn, FLUSH_ORDER)
        if outcomes:
            finished = {
                o.run_id: {"run_id": o.run_id, "status": o.status.value, "error": o.error} for o in outcomes
            }
            conn.execute(FINISH_RUNS, columns(finished))
        for o in outcomes:
            metrics.RUNS.labels(o.status).inc()
        return outcomes

    def _run_actions(self, ctx: RunContext, start: int, done: set[tuple[str, int]]) -> RunOutcome:
        actions = ctx.command["actions"]
        for index in range(start, len(actions)):
            if (ctx.run_id, index) in done:
                continue
            action = actions[index] if isinstance(actions[index], dict) else {}
            action_type = str(action.get("type"))
            try:
                if action_type == DELAY_SECONDS:
                    self._schedule(ctx, index, action)
                    return RunOutcome(ctx.run_id, RunStatus.WAITING)
                if action_type == DELAY_UNTIL:
                    stopped = self._delay_until(ctx, index, action)
                    if stopped is not None:
                        return stopped
                    continue
                if self.sends.handles(action_type):
                    if self.sends.execute(ctx, index, action_type, action.get("args")):
                        return RunOutcome(ctx.run_id, RunStatus.WAITING)  # deferred, or queued
                    continue
                self._execute_action(ctx, index, action_type, action.get("args"))
            except SkipAction as exc:
                ctx.writes.add(action_executions, execution_row(ctx, index))
                skipped = log_row(
                    ctx,
                    index,
                    action_type,
                    None,
                    ActionStatus.SKIPPED,
                    result={"reason": exc.reason},
                    error=exc.reason,
                )
                ctx.writes.add(automation_action_logs, skipped)
                metrics.ACTIONS.labels(action_type, ActionStatus.SKIPPED).inc()
            except (PermanentActionError, UnresolvedPlaceholder, TemplateSyntaxError) as exc:
                error = str(exc)
                ctx.writes.add(
                    automation_action_logs,
                    log_row(ctx, index, action_type, None, ActionStatus.FAILED, error=error),
                )
                metrics.ACTIONS.labels(action_type, ActionStatus.FAILED).inc()
                self._skip_rest(ctx, index + 1, f"skipped: action {index} failed")
                return RunOutcome(ctx.run_id, RunStatus.FAILED, f"action {index} ({action_type}): {error}")
        return RunOutcome(ctx.run_id, RunStatus.SUCCEEDED)

    @staticmethod
    def _skip_rest(ctx: RunContext, start: int, error: str) -> None:
        actions = ctx.command["actions"]
        for later in range(start, len(actions)):
            later_type = str((actions[later] or {}).get("type"))
            ctx.writes.add(
                automation_action_logs,
                log_row(ctx, later, later_type, None, ActionStatus.SKIPPED, error=error),
            )
            metrics.ACTIONS.labels(later_type, ActionStatus.SKIPPED).inc()

    def _execute_action(self, ctx: RunContext, index: int, action_type: str, raw_args: Any) -> None:
        handler = self.handlers.get(action_type)
        if handler is None:
            raise PermanentActionError(f"unknown action type {action_type!r}")
        rendered = render_args(raw_args if raw_args is not None else {}, ctx.context)
        args = parse_args(ACTION_TYPES[action_type], rendered)
        result = handler(ctx, args)
        ctx.writes.add(action_executions, execution_row(ctx, index))
        ctx.writes.add(
            automation_action_logs,
            log_row(ctx, index, action_type, rendered, ActionStatus.SUCCEEDED, result=result),
        )
        metrics.ACTIONS.labels(action_type, ActionStatus.SUCCEEDED).inc()

    def _schedule(self, ctx: RunContext, index: int, action: dict[str, Any]) -> None:
        args = parse_args(ACTION_TYPES[DELAY_SECONDS], render_args(action.get("args") or {}, ctx.context))
        # Read per delay, not once a batch: a patient's delays of one batch then get increasing due
        # times, and the scheduler's ORDER BY due_at keeps them in order.
        due = ctx.db_now() + timedelta(seconds=args.seconds)  # type: ignore[attr-defined]
        ctx.writes.add(scheduled_resumes, resume_row(ctx, index + 1, due))
        ctx.writes.add(action_executions, execution_row(ctx, index))
        scheduled = {"dueAt": due.isoformat()}
        ctx.writes.add(
            automation_action_logs,
            log_row(ctx, index, DELAY_SECONDS, args.model_dump(), ActionStatus.SCHEDULED, result=scheduled),
        )
        metrics.ACTIONS.labels(DELAY_SECONDS, ActionStatus.SCHEDULED).inc()

    def _delay_until(self, ctx: RunContext, index: int, action: dict[str, Any]) -> RunOutcome | None:
        """Wait until the due time (the run is ``waiting``); or, once it has passed, continue at
        once (None) or end the run ``skipped``, as ``ifPast`` says. Against the database clock."""
        raw = action.get("args") or {}
        rendered = render_args(raw, ctx.context)
        args = cast(DelayUntilArgs, parse_args(DelayUntilArgs, rendered))
        at = parse_at(args.at)
        if at is None:
            raise PermanentActionError("at is not an ISO-8601 date-time with an offset")
        local_time = parse_local_time(args.atLocalTime)
        try:
            due = due_at(at, args.offsetSeconds, local_time, ctx.time_zone() if local_time else DEFAULT_ZONE)
        except DueTimeOutOfRange as exc:
            raise PermanentActionError(str(exc)) from None
        decision = decide(due, ctx.db_now(), args.ifPast)
        result: dict[str, Any] = {"dueAt": due.isoformat()}
        error = None
        ctx.writes.add(action_executions, execution_row(ctx, index))
        if decision == "wait":
            ctx.writes.add(scheduled_resumes, resume_row(ctx, index + 1, due, _binding(ctx, raw, args)))
            status = ActionStatus.SCHEDULED
        elif decision == "run":
            status, result["note"] = ActionStatus.SUCCEEDED, "due time passed: continued at once"
        else:
            status, error = ActionStatus.SKIPPED, SKIPPED_REASON
        logged = log_row(ctx, index, DELAY_UNTIL, args.model_dump(), status, result=result, error=error)
        ctx.writes.add(automation_action_logs, logged)
        metrics.ACTIONS.labels(DELAY_UNTIL, status).inc()
        if decision == "skip":
            self._skip_rest(ctx, index + 1, f"skipped: {SKIPPED_REASON}")
            return RunOutcome(ctx.run_id, RunStatus.SKIPPED, SKIPPED_REASON)
        return RunOutcome(ctx.run_id, RunStatus.WAITING) if decision == "wait" else None


def _binding(ctx: RunContext, raw_args: dict[str, Any], args: DelayUntilArgs) -> dict[str, Any] | None:
    """What a re-plan needs, when ``at`` names a field of the triggering entity (else None)."""
    entity_type = str((ctx.command.get("event") or {}).get("entityType"))
    field = bound_field(raw_args.get("at"), entity_type)
    if field is None:
        return None
    return {
        "entityType": entity_type,
        "field": field,
        "offsetSeconds": args.offsetSeconds,
        "atLocalTime": args.atLocalTime,
        "ifPast": args.ifPast,
    }
