"""Executes a batch of commands in ONE PostgreSQL transaction (the caller's).

Exactly once in effect: a run row is inserted with ``ON CONFLICT DO NOTHING`` on its
deterministic id, and each action's effect, its log and its idempotency key
(``action_executions``: run id + action index) are written in the same transaction, so a
redelivered command, or a resumed run, finds what was done and does not do it again. The
caller commits, then commits the Kafka offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from crmflow.actions import ACTION_TYPES
from crmflow.commands import ActionCommandDict, ResumeCommandDict, RunCommandDict
from crmflow.db.tables import action_executions, automation_action_logs, scheduled_resumes
from crmflow.statuses import ActionStatus, Evaluation, RunStatus
from crmflow.templates import TemplateSyntaxError, UnresolvedPlaceholder, render_args
from crmflow_runner import metrics
from crmflow_runner.errors import PermanentActionError
from crmflow_runner.handlers import Handler, parse_args
from crmflow_runner.run_context import DeferredWrites, PatientCache, RunContext
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

DELAY = "delay_seconds"


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: RunStatus  # succeeded | failed | waiting
    error: str | None = None


class Executor:
    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = handlers

    # -- commands from Kafka -------------------------------------------------------------
    def execute(
        self, conn: Connection, commands: Sequence[ActionCommandDict], *, attempt: int = 1
    ) -> list[RunOutcome]:
        """Execute a batch in partition order: event markers, new runs and resumed delays."""
        markers = [marker_params(c) for c in commands if c["kind"] == "event"]
        if markers:  # a redelivered marker twice in a batch: the last one's values, as before
            conn.execute(MARK_EVENTS, columns({m["event_id"]: m for m in markers}))
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
        return self._execute_runs(conn, work, done, attempt)

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
    ) -> list[RunOutcome]:
        patients = PatientCache(conn)
        patients.preload(
            {(c["practiceId"], c["patientId"]) for c, _ in work if isinstance(c.get("patientId"), str)}
        )
        writes = DeferredWrites()
        outcomes = [
            self._run_actions(RunContext(c, writes, patients, attempt), start, done) for c, start in work
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
                if action_type == DELAY:
                    self._schedule(ctx, index, action)
                    return RunOutcome(ctx.run_id, RunStatus.WAITING)
                self._execute_action(ctx, index, action_type, action.get("args"))
            except (PermanentActionError, UnresolvedPlaceholder, TemplateSyntaxError) as exc:
                error = str(exc)
                ctx.writes.add(
                    automation_action_logs,
                    log_row(ctx, index, action_type, None, ActionStatus.FAILED, error=error),
                )
                metrics.ACTIONS.labels(action_type, ActionStatus.FAILED).inc()
                skipped = f"skipped: action {index} failed"
                for later in range(index + 1, len(actions)):
                    later_type = str((actions[later] or {}).get("type"))
                    ctx.writes.add(
                        automation_action_logs,
                        log_row(ctx, later, later_type, None, ActionStatus.SKIPPED, error=skipped),
                    )
                    metrics.ACTIONS.labels(later_type, ActionStatus.SKIPPED).inc()
                return RunOutcome(ctx.run_id, RunStatus.FAILED, f"action {index} ({action_type}): {error}")
        return RunOutcome(ctx.run_id, RunStatus.SUCCEEDED)

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
        args = parse_args(ACTION_TYPES[DELAY], render_args(action.get("args") or {}, ctx.context))
        # Read per delay, not once a batch: a patient's delays of one batch then get increasing due
        # times, and the scheduler's ORDER BY due_at keeps them in order.
        due_at = ctx.db_now() + timedelta(seconds=args.seconds)  # type: ignore[attr-defined]
        ctx.writes.add(scheduled_resumes, resume_row(ctx, index + 1, due_at))
        ctx.writes.add(action_executions, execution_row(ctx, index))
        scheduled = {"dueAt": due_at.isoformat()}
        ctx.writes.add(
            automation_action_logs,
            log_row(ctx, index, DELAY, args.model_dump(), ActionStatus.SCHEDULED, result=scheduled),
        )
        metrics.ACTIONS.labels(DELAY, ActionStatus.SCHEDULED).inc()
