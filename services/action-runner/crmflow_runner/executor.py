"""Executes a batch of commands in ONE PostgreSQL transaction (the caller's).

Exactly once in effect: a run row is inserted with ``ON CONFLICT DO NOTHING`` on its
deterministic id, and each action's effect, its log and its idempotency key
(``action_executions``: run id + action index) are written in the same transaction, so a
redelivered command, or a resumed run, finds what was done and does not do it again. The
caller commits, then commits the Kafka offsets.

Re-plans and cancellations (``control.py``) and awaited events (``signals.py``) change waiting runs
written by earlier commands, so a batch is executed in segments: the commands before each of them
first (their rows written), then it, then the rest — every command acts at its place in the
partition.

``wait_for_event`` (SPEC section 13) parks the run like a delay, its resume due at the timeout and
found by its wait key; a signal makes it due at once with the awaited event. An action's ``when``
is evaluated when the action is reached: false, the action is logged ``skipped`` (``when_false``).
A run claiming an enrollment key already claimed in the segment starts a new segment too
(``flow_control.py``): it sees whether the first run has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Connection

from crmflow.actions import ACTION_TYPES, DELAY_SECONDS, DELAY_UNTIL, DelayUntilArgs, WaitForEventArgs
from crmflow.commands import (
    ActionCommandDict,
    ControlCommandDict,
    ResumeCommandDict,
    RunCommandDict,
    SignalCommandDict,
)
from crmflow.db.tables import action_executions, automation_action_logs, scheduled_resumes
from crmflow.due_time import SKIPPED_REASON, DueTimeOutOfRange, bound_field, decide, due_at, parse_at
from crmflow.statuses import ActionStatus, Evaluation, ResumeStatus, RunStatus
from crmflow.templates import TemplateSyntaxError, UnresolvedPlaceholder, render_args
from crmflow.timezones import DEFAULT_ZONE, parse_local_time
from crmflow.validation import DomainValidationError
from crmflow.wait_for_event import (
    TIMED_OUT,
    WAIT_FOR_EVENT,
    WAITED_EVENT,
    WHEN_FALSE,
    match_value,
    wait_key,
    when_holds,
)
from crmflow_runner import control, flow_control, metrics, signals
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
CONTROL_KINDS = frozenset({"replan", "cancel", "signal"})


@dataclass(frozen=True)
class WaitEnd:
    """A resumed ``wait_for_event`` at action ``index``: the awaited event, or None (timed out)."""

    index: int
    event: dict[str, Any] | None


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: RunStatus  # succeeded | failed | waiting | skipped (a delay_until past, ifPast skip)
    error: str | None = None
    failed_index: int | None = None  # the action that failed (a bulk retry resumes from it)


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
        controls: list[ControlCommandDict | SignalCommandDict] = []  # consecutive ones, applied together
        enrolling: set[tuple[str, str]] = set()  # the segment's enrollment keys (distinct per claim)
        resuming = False  # the segment resumes runs (which may end and free their keys)
        for c in commands:
            if c["kind"] in CONTROL_KINDS:
                outcomes += self._execute_segment(conn, segment, attempt, zones)
                segment, enrolling, resuming = [], set(), False
                controls.append(cast(ControlCommandDict | SignalCommandDict, c))
            else:
                _apply_controls(conn, controls, zones)
                controls = []
                keys = flow_control.enrollment_keys([c] if c["kind"] == "run" else [])
                if keys and (resuming or enrolling.intersection(keys)):
                    # claim it once the runs before it are done (one may have ended holding it)
                    outcomes += self._execute_segment(conn, segment, attempt, zones)
                    segment, enrolling, resuming = [], set(), False
                enrolling.update(keys)
                resuming = resuming or c["kind"] == "resume"
                segment.append(c)
        _apply_controls(conn, controls, zones)
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
        claimed, refused, behind = self._claim_runs(conn, [c for c in commands if c["kind"] == "run"])
        resumed = self._claim_resumes(conn, [c for c in commands if c["kind"] == "resume"])
        work: list[tuple[RunCommandDict, int, WaitEnd | None]] = []
        held: list[RunCommandDict] = []
        for c in commands:
            if c["kind"] == "run":
                if claimed.pop(c["runId"], None) is None:
                    continue  # not claimed, or a second copy in this batch
                if c["runId"] in refused:
                    metrics.RUNS.labels(RunStatus.SKIPPED).inc()
                    continue
                if c["status"] == Evaluation.MATCHED and (c.get("held") or c["runId"] in behind):
                    held.append(c)
                    metrics.RUNS.labels(RunStatus.HELD).inc()
                    continue
                if c["status"] == Evaluation.MATCHED:
                    work.append((c, 0, None))
                metrics.RUNS.labels(c["status"] if c["status"] != Evaluation.MATCHED else "started").inc()
            elif c["kind"] == "resume":
                stored = resumed.pop((c["runId"], c["actionIndex"]), None)
                if stored is None:
                    metrics.DUPLICATES.inc()  # resumed already, or a second copy in this batch
                    continue
                work.append((stored[0], c["actionIndex"], stored[1]))
        flow_control.hold(conn, held)
        done = self._done_actions(conn, [c["runId"] for c, _, _ in work])
        return self._execute_runs(conn, work, done, attempt, zones)

    def _claim_runs(
        self, conn: Connection, runs: Sequence[RunCommandDict]
    ) -> tuple[dict[str, bool], set[str], set[str]]:
        """Insert new runs; returns run id -> resuming (True for a run left 'running'), the new
        runs their enrollment policy refused (recorded skipped, already_enrolled), and those
        inserted held behind their resumed rule's released runs (``INSERT_RUNS``)."""
        if not runs:
            return {}, set(), set()
        rows = {c["runId"]: run_row(c) for c in runs}
        inserted = {str(r.id): r.status for r in conn.execute(INSERT_RUNS, columns(rows))}
        new = {c["runId"]: c for c in runs if c["runId"] in inserted and c["status"] == Evaluation.MATCHED}
        behind = {
            run_id for run_id, c in new.items() if inserted[run_id] == RunStatus.HELD and not c.get("held")
        }
        refused = flow_control.claim_enrollments(conn, list(new.values()))
        claimed = {run_id: False for run_id in inserted}
        others = [run_id for run_id in rows if run_id not in inserted]
        if others:  # redelivered: only a run interrupted while 'running' is picked up again
            running = conn.execute(RUNNING_AMONG, {"ids": others}).scalars()
            resumed = {run_id: True for run_id in running}
            claimed.update(resumed)
            metrics.DUPLICATES.inc(len(others) - len(resumed))
        return claimed, refused, behind

    @staticmethod
    def _claim_resumes(
        conn: Connection, resumes: Sequence[ResumeCommandDict]
    ) -> dict[tuple[str, int], tuple[RunCommandDict, WaitEnd | None]]:
        """Mark due delays done (in this transaction); returns (run id, index) -> stored command,
        and how its wait ended when the resume follows a ``wait_for_event`` (the command then has
        ``waitedEvent``: the awaited event, or None after the timeout).

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
        claimed: dict[tuple[str, int], tuple[RunCommandDict, WaitEnd | None]] = {}
        for r in rows:
            command, wait = r.command, None
            if r.wait_key is not None:
                wait = WaitEnd(r.action_index - 1, r.waited_event)
                command = {**command, WAITED_EVENT: r.waited_event}
            claimed[(str(r.run_id), r.action_index)] = (command, wait)
        return claimed

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
        work: Sequence[tuple[RunCommandDict, int, WaitEnd | None]],
        done: set[tuple[str, int]],
        attempt: int,
        zones: PracticeZones,
    ) -> list[RunOutcome]:
        patients = PatientCache(conn)
        patients.preload(
            {(c["practiceId"], c["patientId"]) for c, _, _ in work if isinstance(c.get("patientId"), str)}
        )
        writes = DeferredWrites()
        outcomes = [
            self._run_actions(RunContext(c, writes, patients, attempt, zones), start, done, wait)
            for c, start, wait in work
        ]
        writes.flush(conn, FLUSH_ORDER)
        if outcomes:
            finished = {
                o.run_id: {"run_id": o.run_id, "status": o.status.value, "error": o.error} for o in outcomes
            }
            conn.execute(FINISH_RUNS, columns(finished))
            commands = {c["runId"]: c for c, _, _ in work}
            flow_control.end_enrollments(
                conn, [commands[o.run_id] for o in outcomes if o.status != RunStatus.WAITING]
            )
            failed = [(commands[o.run_id], o.failed_index) for o in outcomes if o.failed_index is not None]
            flow_control.park(conn, [(c, index, ResumeStatus.FAILED) for c, index in failed])
        for o in outcomes:
            metrics.RUNS.labels(o.status).inc()
        return outcomes

    def _run_actions(
        self, ctx: RunContext, start: int, done: set[tuple[str, int]], wait: WaitEnd | None = None
    ) -> RunOutcome:
        actions = ctx.command["actions"]
        if wait is not None and not self._end_wait(ctx, wait):
            self._skip_rest(ctx, start, f"skipped: {TIMED_OUT}")
            return RunOutcome(ctx.run_id, RunStatus.SUCCEEDED)
        for index in range(start, len(actions)):
            if (ctx.run_id, index) in done:
                continue
            action = actions[index] if isinstance(actions[index], dict) else {}
            action_type = str(action.get("type"))
            try:
                if not self._when_holds(ctx, index, action_type, action):
                    continue
                if action_type == DELAY_SECONDS:
                    self._schedule(ctx, index, action)
                    return RunOutcome(ctx.run_id, RunStatus.WAITING)
                if action_type == DELAY_UNTIL:
                    stopped = self._delay_until(ctx, index, action)
                    if stopped is not None:
                        return stopped
                    continue
                if action_type == WAIT_FOR_EVENT:
                    if self._wait_for_event(ctx, index, action):
                        return RunOutcome(ctx.run_id, RunStatus.WAITING)
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
                return RunOutcome(
                    ctx.run_id, RunStatus.FAILED, f"action {index} ({action_type}): {error}", index
                )
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

    @staticmethod
    def _when_holds(ctx: RunContext, index: int, action_type: str, action: dict[str, Any]) -> bool:
        """Whether the action's ``when`` (absent: always) holds; false: the action is logged
        ``skipped`` (``when_false``) and marked done, so a redelivery does not decide again."""
        when = action.get("when")
        if when is None:
            return True
        try:
            holds = when_holds(when, ctx.context)
        except DomainValidationError as exc:
            raise PermanentActionError(f"when cannot be evaluated: {exc}") from None
        if not holds:
            ctx.writes.add(action_executions, execution_row(ctx, index))
            ctx.writes.add(
                automation_action_logs,
                log_row(ctx, index, action_type, None, ActionStatus.SKIPPED, error=WHEN_FALSE),
            )
            metrics.ACTIONS.labels(action_type, ActionStatus.SKIPPED).inc()
        return holds

    def _wait_for_event(self, ctx: RunContext, index: int, action: dict[str, Any]) -> bool:
        """Park the run until the awaited event or the timeout (True), or, when an awaited event
        that occurred after the triggering one is already recorded, take it and go on (False)."""
        args = cast(WaitForEventArgs, parse_args(WaitForEventArgs, action.get("args") or {}))
        event = ctx.command.get("event") or {}
        value = match_value(event.get("data"), args.match)
        if value is None:
            raise PermanentActionError(f"match {args.match!r} has no value in the triggering event")
        key = wait_key(index, value)
        conn = ctx.patients.conn
        signals.lock(conn, [signals.lock_key(ctx.practice_id, ctx.command["ruleId"], key)])
        ctx.writes.add(action_executions, execution_row(ctx, index))
        logged_args = args.model_dump(exclude={"conditionsJson"})
        rule_id = ctx.command["ruleId"]
        found = signals.first_after(conn, ctx.practice_id, rule_id, key, event.get("occurredAt"))
        if found is not None:
            ctx.set_waited_event(found)
            result: dict[str, Any] = {"waitedEventId": found.get("id"), "recordedBeforeTheWait": True}
            ctx.writes.add(
                automation_action_logs,
                log_row(ctx, index, WAIT_FOR_EVENT, logged_args, ActionStatus.SUCCEEDED, result=result),
            )
            metrics.SIGNALS.labels("taken_at_wait").inc()
            metrics.ACTIONS.labels(WAIT_FOR_EVENT, ActionStatus.SUCCEEDED).inc()
            return False
        timeout = ctx.db_now() + timedelta(seconds=args.timeoutSeconds)
        ctx.writes.add(scheduled_resumes, resume_row(ctx, index + 1, timeout, wait_key=key))
        scheduled = {"timeoutAt": timeout.isoformat()}
        ctx.writes.add(
            automation_action_logs,
            log_row(ctx, index, WAIT_FOR_EVENT, logged_args, ActionStatus.SCHEDULED, result=scheduled),
        )
        metrics.ACTIONS.labels(WAIT_FOR_EVENT, ActionStatus.SCHEDULED).inc()
        return True

    @staticmethod
    def _end_wait(ctx: RunContext, wait: WaitEnd) -> bool:
        """Log how a resumed wait ended; False when it timed out with ``onTimeout: stop``."""
        actions = ctx.command["actions"]
        action = actions[wait.index] if 0 <= wait.index < len(actions) else {}
        on_timeout = ((action or {}).get("args") or {}).get("onTimeout", "continue")
        if wait.event is not None:
            result: dict[str, Any] = {"waitedEventId": wait.event.get("id")}
        else:
            result = {"timedOut": True, "onTimeout": on_timeout}
        ctx.writes.add(
            automation_action_logs,
            log_row(ctx, wait.index, WAIT_FOR_EVENT, None, ActionStatus.SUCCEEDED, result=result),
        )
        metrics.ACTIONS.labels(WAIT_FOR_EVENT, ActionStatus.SUCCEEDED).inc()
        return wait.event is not None or on_timeout != "stop"

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


def _apply_controls(
    conn: Connection, commands: Sequence[ControlCommandDict | SignalCommandDict], zones: PracticeZones
) -> None:
    """Consecutive control commands: re-plans and cancels, then awaited events. (A signal only
    makes a waiting run due, a cancel stops it: in either order the run ends cancelled, and a
    re-plan moves only delay_until resumes, never a wait's.)"""
    control.apply(conn, [c for c in commands if c["kind"] != "signal"], zones)
    signals.apply(conn, [c for c in commands if c["kind"] == "signal"])
