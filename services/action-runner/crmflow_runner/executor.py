"""Executes a batch of commands in ONE PostgreSQL transaction (the caller's).

Exactly once in effect: a run row is inserted with ``ON CONFLICT DO NOTHING`` on its
deterministic id, and each action's effect, its log and its idempotency key
(``action_executions``: run id + action index) are written in the same transaction, so a
redelivered command, or a resumed run, finds what was done and does not do it again. The
caller commits, then commits the Kafka offsets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, any_, bindparam, select, text

from crmflow.actions import ACTION_TYPES
from crmflow.db.tables import (
    action_executions,
    automation_action_logs,
    automation_runs,
    notes,
    scheduled_resumes,
    tasks,
)
from crmflow.phi import minimal_args
from crmflow.templates import TemplateSyntaxError, UnresolvedPlaceholder, render_args
from crmflow_runner import metrics
from crmflow_runner.errors import PermanentActionError
from crmflow_runner.handlers import Handler, parse_args
from crmflow_runner.run_context import UUIDS, DeferredWrites, PatientCache, RunContext

log = logging.getLogger(__name__)

DELAY = "delay_seconds"
# Inserted in this order at the end of a batch (foreign keys: logs after runs, effects first).
FLUSH_ORDER = [notes, tasks, action_executions, automation_action_logs, scheduled_resumes]

# Fixed statements taking one array per column (not a VALUES list per batch): compiled once, and
# PostgreSQL plans them once per connection (psycopg prepares a statement it has seen 5 times).
_MARK_EVENTS = text(
    """
    UPDATE outbox_events o SET status = 'published', published_at = clock_timestamp(),
           kafka_topic = m.topic, kafka_partition = m.partition, kafka_offset = m.kafka_offset,
           kafka_timestamp = to_timestamp(m.ts), runs_expected = m.runs_expected
    FROM unnest(CAST(:event_id AS uuid[]), CAST(:practice_id AS uuid[]), CAST(:topic AS text[]),
                CAST(:partition AS int[]), CAST(:offset AS bigint[]), CAST(:timestamp AS float8[]),
                CAST(:runs_expected AS int[]))
         AS m(event_id, practice_id, topic, partition, kafka_offset, ts, runs_expected)
    WHERE o.id = m.event_id AND o.practice_id = m.practice_id
    """
)
_INSERT_RUNS = text(
    """
    INSERT INTO automation_runs (id, practice_id, rule_id, rule_version, event_id, event_name,
        patient_id, status, trace, error, correlation_id, causation_id, depth, finished_at)
    SELECT r.id, r.practice_id, r.rule_id, r.rule_version, r.event_id, r.event_name,
           r.patient_id, r.status, r.trace::jsonb, r.error, r.correlation_id, r.causation_id, r.depth,
           CASE WHEN r.status <> 'running' THEN clock_timestamp() END
    FROM unnest(CAST(:id AS uuid[]), CAST(:practice_id AS uuid[]), CAST(:rule_id AS uuid[]),
                CAST(:rule_version AS int[]), CAST(:event_id AS uuid[]), CAST(:event_name AS text[]),
                CAST(:patient_id AS text[]), CAST(:status AS text[]), CAST(:trace AS text[]),
                CAST(:error AS text[]), CAST(:correlation_id AS text[]), CAST(:causation_id AS text[]),
                CAST(:depth AS int[]))
         AS r(id, practice_id, rule_id, rule_version, event_id, event_name, patient_id, status,
              trace, error, correlation_id, causation_id, depth)
    ON CONFLICT DO NOTHING
    RETURNING id
    """
)
_RUNNING_AMONG = select(automation_runs.c.id).where(
    automation_runs.c.id == any_(bindparam("ids", type_=UUIDS)), automation_runs.c.status == "running"
)
_DONE_ACTIONS = select(action_executions.c.run_id, action_executions.c.action_index).where(
    action_executions.c.run_id == any_(bindparam("ids", type_=UUIDS))
)
_FINISH_RUNS = text(
    """
    UPDATE automation_runs r SET status = f.status, error = f.error, updated_at = clock_timestamp(),
           finished_at = CASE WHEN f.status = 'waiting' THEN NULL ELSE clock_timestamp() END
    FROM unnest(CAST(:run_id AS uuid[]), CAST(:status AS text[]), CAST(:error AS text[]))
         AS f(run_id, status, error)
    WHERE r.id = f.run_id
    """
)
_CLAIM_RESUMES = text(
    """
    UPDATE scheduled_resumes s SET status = 'done', resumed_at = clock_timestamp()
    FROM unnest(CAST(:run_id AS uuid[]), CAST(:action_index AS int[]), CAST(:practice_id AS uuid[]))
         AS k(run_id, action_index, practice_id)
    WHERE s.run_id = k.run_id AND s.action_index = k.action_index AND s.practice_id = k.practice_id
      AND s.status <> 'done'
    RETURNING s.run_id, s.action_index, s.command
    """
).columns(scheduled_resumes.c.run_id, scheduled_resumes.c.action_index, scheduled_resumes.c.command)
_TERMINAL_AT_INSERT = {"skipped", "blocked", "failed"}


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str  # succeeded | failed | waiting
    error: str | None = None


class Executor:
    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = handlers

    # -- commands from Kafka -------------------------------------------------------------
    def execute(
        self, conn: Connection, commands: Sequence[dict[str, Any]], *, attempt: int = 1
    ) -> list[RunOutcome]:
        """Execute a batch in partition order: event markers, new runs and resumed delays."""
        markers = [c for c in commands if c["kind"] == "event"]
        if markers:  # a redelivered marker twice in a batch: the last one's values, as before
            conn.execute(_MARK_EVENTS, _columns({m["eventId"]: _marker_params(m) for m in markers}))
        claimed = self._claim_runs(conn, [c for c in commands if c["kind"] == "run"])
        resumed = self._claim_resumes(conn, [c for c in commands if c["kind"] == "resume"])
        work: list[tuple[dict[str, Any], int]] = []
        for c in commands:
            if c["kind"] == "run":
                if claimed.pop(c["runId"], None) is None:
                    continue  # not claimed, or a second copy in this batch
                if c["status"] == "matched":
                    work.append((c, 0))
                metrics.RUNS.labels(c["status"] if c["status"] != "matched" else "started").inc()
            elif c["kind"] == "resume":
                stored = resumed.pop((c["runId"], c["actionIndex"]), None)
                if stored is None:
                    metrics.DUPLICATES.inc()  # resumed already, or a second copy in this batch
                    continue
                work.append((stored, c["actionIndex"]))
        done = self._done_actions(conn, [c["runId"] for c, _ in work])
        return self._execute_runs(conn, work, done, attempt)

    def _claim_runs(self, conn: Connection, runs: Sequence[dict[str, Any]]) -> dict[str, bool]:
        """Insert new runs; returns run id -> resuming (True for a run left 'running')."""
        if not runs:
            return {}
        rows = {c["runId"]: _run_row(c) for c in runs}
        inserted = {str(run_id) for run_id in conn.execute(_INSERT_RUNS, _columns(rows)).scalars()}
        claimed = {run_id: False for run_id in inserted}
        others = [run_id for run_id in rows if run_id not in inserted]
        if others:  # redelivered: only a run interrupted while 'running' is picked up again
            running = conn.execute(_RUNNING_AMONG, {"ids": others}).scalars()
            resumed = {run_id: True for run_id in running}
            claimed.update(resumed)
            metrics.DUPLICATES.inc(len(others) - len(resumed))
        return claimed

    @staticmethod
    def _claim_resumes(
        conn: Connection, resumes: Sequence[dict[str, Any]]
    ) -> dict[tuple[str, int], dict[str, Any]]:
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
        rows = conn.execute(_CLAIM_RESUMES, keys)
        return {(str(r.run_id), r.action_index): r.command for r in rows}

    @staticmethod
    def _done_actions(conn: Connection, run_ids: Sequence[str]) -> set[tuple[str, int]]:
        if not run_ids:
            return set()
        rows = conn.execute(_DONE_ACTIONS, {"ids": list(run_ids)})
        return {(str(r.run_id), r.action_index) for r in rows}

    # -- executing runs -------------------------------------------------------------------
    def _execute_runs(
        self,
        conn: Connection,
        work: Sequence[tuple[dict[str, Any], int]],
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
                o.run_id: {"run_id": o.run_id, "status": o.status, "error": o.error} for o in outcomes
            }
            conn.execute(_FINISH_RUNS, _columns(finished))
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
                    return RunOutcome(ctx.run_id, "waiting")
                self._execute_action(ctx, index, action_type, action.get("args"))
            except (PermanentActionError, UnresolvedPlaceholder, TemplateSyntaxError) as exc:
                error = str(exc)
                self._log(ctx, index, action_type, None, "failed", error=error)
                metrics.ACTIONS.labels(action_type, "failed").inc()
                for later in range(index + 1, len(actions)):
                    later_type = str((actions[later] or {}).get("type"))
                    self._log(
                        ctx, later, later_type, None, "skipped", error=f"skipped: action {index} failed"
                    )
                    metrics.ACTIONS.labels(later_type, "skipped").inc()
                return RunOutcome(ctx.run_id, "failed", f"action {index} ({action_type}): {error}")
        return RunOutcome(ctx.run_id, "succeeded")

    def _execute_action(self, ctx: RunContext, index: int, action_type: str, raw_args: Any) -> None:
        handler = self.handlers.get(action_type)
        if handler is None:
            raise PermanentActionError(f"unknown action type {action_type!r}")
        rendered = render_args(raw_args if raw_args is not None else {}, ctx.context)
        args = parse_args(ACTION_TYPES[action_type], rendered)
        result = handler(ctx, args)
        self._key(ctx, index)
        self._log(ctx, index, action_type, rendered, "succeeded", result=result)
        metrics.ACTIONS.labels(action_type, "succeeded").inc()

    def _schedule(self, ctx: RunContext, index: int, action: dict[str, Any]) -> None:
        args = parse_args(ACTION_TYPES[DELAY], render_args(action.get("args") or {}, ctx.context))
        # Read per delay, not once a batch: a patient's delays of one batch then get increasing due
        # times, and the scheduler's ORDER BY due_at keeps them in order.
        due_at = ctx.db_now() + timedelta(seconds=args.seconds)  # type: ignore[attr-defined]
        ctx.writes.add(
            scheduled_resumes,
            {
                "run_id": ctx.run_id,
                "action_index": index + 1,
                "practice_id": ctx.practice_id,
                "due_at": due_at,
                "command": ctx.command,
                "status": "pending",
            },
        )
        self._key(ctx, index)
        self._log(ctx, index, DELAY, args.model_dump(), "scheduled", result={"dueAt": due_at.isoformat()})
        metrics.ACTIONS.labels(DELAY, "scheduled").inc()

    @staticmethod
    def _key(ctx: RunContext, index: int) -> None:
        ctx.writes.add(
            action_executions,
            {
                "run_id": ctx.run_id,
                "action_index": index,
                "practice_id": ctx.practice_id,
            },
        )

    @staticmethod
    def _log(
        ctx: RunContext,
        index: int,
        action_type: str,
        args: Any,
        status: str,
        *,
        result: Any = None,
        error: str | None = None,
    ) -> None:
        ctx.writes.add(
            automation_action_logs,
            {
                "practice_id": ctx.practice_id,
                "run_id": ctx.run_id,
                "action_index": index,
                "action_type": action_type,
                "args": None if args is None else minimal_args(args),
                "status": status,
                "result": result,
                "error": error,
                "attempt": ctx.attempt,
            },
        )


def _columns(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Rows (one per key: the last one given wins) as one list per column, for ``unnest``."""
    values = list(rows.values())
    return {name: [row[name] for row in values] for name in values[0]}


def _marker_params(marker: Mapping[str, Any]) -> dict[str, Any]:
    source = marker["source"]
    timestamp = source.get("timestamp")
    return {
        "event_id": marker["eventId"],
        "practice_id": marker["practiceId"],
        "topic": source["topic"],
        "partition": source["partition"],
        "offset": source["offset"],
        "timestamp": None if timestamp is None else float(timestamp),
        "runs_expected": marker["runsExpected"],
    }


def _run_row(c: Mapping[str, Any]) -> dict[str, Any]:
    final = c["status"] in _TERMINAL_AT_INSERT  # finished_at is set for these (not 'running')
    return {
        "id": c["runId"],
        "practice_id": c["practiceId"],
        "rule_id": c["ruleId"],
        "rule_version": c["ruleVersion"],
        "event_id": c["eventId"],
        "event_name": c["eventName"],
        "patient_id": c.get("patientId"),
        "status": c["status"] if final else "running",
        "trace": json.dumps(c.get("trace")),  # None as JSON null, as the JSONB column type did
        "error": c.get("error"),
        "correlation_id": c["correlationId"],
        "causation_id": c["causationId"],
        "depth": c["depth"],
    }
