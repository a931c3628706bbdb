"""The executor's SQL: its fixed statements, and the mappers from commands to their rows.

Fixed statements take one array per column (not a VALUES list per batch): compiled once, and
PostgreSQL plans them once per connection (psycopg prepares a statement it has seen 5 times).
Rows of the tables written with COPY at the end of a batch (``FLUSH_ORDER``) are built here too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, any_, bindparam, column, select, text

from crmflow.commands import EventEvaluatedDict, RunCommandDict, run_command_key
from crmflow.db.tables import (
    action_executions,
    automation_action_logs,
    automation_runs,
    notes,
    scheduled_resumes,
    tasks,
)
from crmflow.phi import minimal_args
from crmflow.statuses import FINAL_AT_EVALUATION, ActionStatus, ResumeStatus, RunStatus
from crmflow_runner.run_context import UUIDS, RunContext

# Inserted in this order at the end of a batch (foreign keys: logs after runs, effects first).
FLUSH_ORDER = [notes, tasks, action_executions, automation_action_logs, scheduled_resumes]

MARK_EVENTS = text(
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
_RESUMABLE = f"('{ResumeStatus.PENDING}', '{ResumeStatus.EMITTED}')"
INSERT_RUNS = text(
    f"""
    INSERT INTO automation_runs (id, practice_id, rule_id, rule_version, event_id, event_name,
        patient_id, status, trace, error, correlation_id, causation_id, depth, finished_at)
    SELECT r.id, r.practice_id, r.rule_id, r.rule_version, r.event_id, r.event_name, r.patient_id,
           CASE WHEN r.status = '{RunStatus.RUNNING}' AND EXISTS (
                    SELECT 1 FROM scheduled_resumes s
                    WHERE s.rule_id = r.rule_id AND s.command_key = r.command_key
                      AND s.action_index = 0 AND s.status IN {_RESUMABLE})
                THEN '{RunStatus.HELD}' ELSE r.status END,
           r.trace::jsonb, r.error, r.correlation_id, r.causation_id, r.depth,
           CASE WHEN r.status NOT IN ('{RunStatus.RUNNING}', '{RunStatus.HELD}') THEN clock_timestamp() END
    FROM unnest(CAST(:id AS uuid[]), CAST(:practice_id AS uuid[]), CAST(:rule_id AS uuid[]),
                CAST(:rule_version AS int[]), CAST(:event_id AS uuid[]), CAST(:event_name AS text[]),
                CAST(:patient_id AS text[]), CAST(:status AS text[]), CAST(:trace AS text[]),
                CAST(:error AS text[]), CAST(:correlation_id AS text[]), CAST(:causation_id AS text[]),
                CAST(:depth AS int[]), CAST(:command_key AS text[]))
         AS r(id, practice_id, rule_id, rule_version, event_id, event_name, patient_id, status,
              trace, error, correlation_id, causation_id, depth, command_key)
    ON CONFLICT DO NOTHING
    RETURNING id, status
    """
)
"""Insert new runs (a redelivered one is not returned). A matched run of a rule whose released
held runs of the same patient have not executed yet (``ix_scheduled_resumes_released``: only such
rows) is inserted ``held``: it queues behind them (``crmflow_runner.flow_control``)."""
RUNNING_AMONG = select(automation_runs.c.id).where(
    automation_runs.c.id == any_(bindparam("ids", type_=UUIDS)),
    automation_runs.c.status == RunStatus.RUNNING.value,
)
DONE_ACTIONS = select(action_executions.c.run_id, action_executions.c.action_index).where(
    action_executions.c.run_id == any_(bindparam("ids", type_=UUIDS))
)
FINISH_RUNS = text(
    f"""
    UPDATE automation_runs r SET status = f.status, error = f.error, updated_at = clock_timestamp(),
           finished_at = CASE WHEN f.status = '{RunStatus.WAITING}' THEN NULL ELSE clock_timestamp() END
    FROM unnest(CAST(:run_id AS uuid[]), CAST(:status AS text[]), CAST(:error AS text[]))
         AS f(run_id, status, error)
    WHERE r.id = f.run_id
    """
)
CLAIM_RESUMES = text(
    f"""
    UPDATE scheduled_resumes s SET status = '{ResumeStatus.DONE}', resumed_at = clock_timestamp()
    FROM unnest(CAST(:run_id AS uuid[]), CAST(:action_index AS int[]), CAST(:practice_id AS uuid[]))
         AS k(run_id, action_index, practice_id)
    WHERE s.run_id = k.run_id AND s.action_index = k.action_index AND s.practice_id = k.practice_id
      AND s.status IN ('{ResumeStatus.PENDING}', '{ResumeStatus.EMITTED}')
    RETURNING s.run_id, s.action_index, s.command, s.wait_key, s.waited_event
    """
).columns(
    scheduled_resumes.c.run_id,
    scheduled_resumes.c.action_index,
    scheduled_resumes.c.command,
    scheduled_resumes.c.wait_key,
    scheduled_resumes.c.waited_event,
)


def columns(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Rows (one per key: the last one given wins) as one list per column, for ``unnest``."""
    values = list(rows.values())
    return {name: [row[name] for row in values] for name in values[0]}


def marker_params(marker: EventEvaluatedDict) -> dict[str, Any]:
    """An EventEvaluated marker as a row of ``MARK_EVENTS``."""
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


def run_row(c: RunCommandDict) -> dict[str, Any]:
    """A RunCommand as a row of ``INSERT_RUNS``: a matched run starts running (held: held), others
    are final."""
    final = c["status"] in FINAL_AT_EVALUATION  # finished_at is set for these (not 'running')
    started = RunStatus.HELD if c.get("held") else RunStatus.RUNNING  # held: its rule is paused
    return {
        "id": c["runId"],
        "practice_id": c["practiceId"],
        "rule_id": c["ruleId"],
        "rule_version": c["ruleVersion"],
        "event_id": c["eventId"],
        "event_name": c["eventName"],
        "patient_id": c.get("patientId"),
        "status": str(c["status"]) if final else started.value,
        "trace": json.dumps(c.get("trace")),  # None as JSON null, as the JSONB column type did
        "error": c.get("error"),
        "correlation_id": c["correlationId"],
        "causation_id": c["causationId"],
        "depth": c["depth"],
        "command_key": run_command_key(c).decode(),
    }


def execution_row(ctx: RunContext, index: int) -> dict[str, Any]:
    """The idempotency key of action ``index`` of the run (``action_executions``)."""
    return {"run_id": ctx.run_id, "action_index": index, "practice_id": ctx.practice_id}


def log_row(
    ctx: RunContext,
    index: int,
    action_type: str,
    args: Any,
    status: ActionStatus,
    *,
    result: Any = None,
    error: str | None = None,
) -> dict[str, Any]:
    """One attempt of action ``index`` of the run ``ctx`` executes."""
    return action_log_row(
        ctx.practice_id, ctx.run_id, ctx.attempt, index, action_type, args, status, result=result, error=error
    )


def action_log_row(
    practice_id: str,
    run_id: str,
    attempt: int,
    index: int,
    action_type: str,
    args: Any,
    status: ActionStatus,
    *,
    result: Any = None,
    error: str | None = None,
) -> dict[str, Any]:
    """One attempt of action ``index`` of run ``run_id`` (``automation_action_logs``; args
    PHI-minimal)."""
    return {
        "practice_id": practice_id,
        "run_id": run_id,
        "action_index": index,
        "action_type": action_type,
        "args": None if args is None else minimal_args(args),
        "status": status.value,
        "result": result,
        "error": error,
        "attempt": attempt,
    }


def resume_row(
    ctx: RunContext,
    index: int,
    due_at: datetime,
    binding: Mapping[str, Any] | None = None,
    wait_key: str | None = None,
) -> dict[str, Any]:
    """The rest of the run from action ``index``, due at ``due_at`` (``scheduled_resumes``), with
    the key its resume is sent with (the key of the run's own commands) and what re-plans
    (``binding``: the triggering entity's field a ``delay_until`` follows), cancels (the run's
    cancel keys) and awaited events (``wait_key``, a ``wait_for_event``'s) find it by."""
    event = ctx.command.get("event") or {}
    return {
        "run_id": ctx.run_id,
        "action_index": index,
        "practice_id": ctx.practice_id,
        "due_at": due_at,
        "command": ctx.command,
        "command_key": run_command_key(ctx.command).decode(),
        "status": ResumeStatus.PENDING.value,
        "rule_id": ctx.command["ruleId"],
        "bound_entity_id": None if binding is None else str(event.get("entityId")),
        "binding": None if binding is None else dict(binding),
        "cancel_keys": ctx.command.get("cancelKeys") or None,
        "wait_key": wait_key,
    }


# -- re-plans and cancellations (control.py) -------------------------------------------------
_WAITING = f"('{ResumeStatus.PENDING}', '{ResumeStatus.EMITTED}')"
_CONTROL_COLUMNS = (
    scheduled_resumes.c.run_id,
    scheduled_resumes.c.action_index,
    scheduled_resumes.c.due_at,
    scheduled_resumes.c.binding,
    scheduled_resumes.c.command,
)
BOUND_RESUMES = text(
    f"""
    SELECT k.key, s.run_id, s.action_index, s.due_at, s.binding, s.command
    FROM unnest(CAST(:practice_id AS uuid[]), CAST(:entity_id AS text[]), CAST(:rule_id AS uuid[]),
                CAST(:entity_type AS text[]), CAST(:field AS text[]))
         WITH ORDINALITY AS k(practice_id, entity_id, rule_id, entity_type, field, key)
    JOIN scheduled_resumes s
      ON s.practice_id = k.practice_id AND s.bound_entity_id = k.entity_id AND s.rule_id = k.rule_id
     AND s.status = '{ResumeStatus.PENDING}'
     AND s.binding->>'entityType' = k.entity_type AND s.binding->>'field' = k.field
    ORDER BY s.run_id, s.action_index
    FOR UPDATE OF s
    """
).columns(column("key", BigInteger), *_CONTROL_COLUMNS)
"""The not yet sent resumes of rules' runs following a field of one entity (an index), for each
key (its ordinal ``key``, from 1) of the arrays given."""
CANCELLABLE_RESUMES = text(
    f"""
    SELECT k.key, s.run_id, s.action_index, s.due_at, s.binding, s.command
    FROM unnest(CAST(:practice_id AS uuid[]), CAST(:rule_id AS uuid[]), CAST(:cancel_key AS text[]))
         WITH ORDINALITY AS k(practice_id, rule_id, cancel_key, key)
    CROSS JOIN LATERAL (
        SELECT * FROM scheduled_resumes s
        WHERE s.cancel_keys @> ARRAY[k.cancel_key] AND s.cancel_keys IS NOT NULL
          AND s.status IN {_WAITING} AND s.practice_id = k.practice_id AND s.rule_id = k.rule_id
        OFFSET 0
    ) s
    ORDER BY s.run_id, s.action_index
    FOR UPDATE OF s
    """
).columns(column("key", BigInteger), *_CONTROL_COLUMNS)
"""The waiting resumes of rules' runs carrying a cancel key, also those already sent (the GIN
index), for each key (its ordinal ``key``) of the arrays given: a resume on its way then finds its
row cancelled and does nothing. (``OFFSET 0`` keeps a GIN index search per key: joined
directly, PostgreSQL planned a hash join over a scan of every waiting row.)"""
MOVE_RESUMES = text(
    """
    UPDATE scheduled_resumes s SET due_at = m.due_at
    FROM unnest(CAST(:run_id AS uuid[]), CAST(:action_index AS int[]), CAST(:due_at AS timestamptz[]))
         AS m(run_id, action_index, due_at)
    WHERE s.run_id = m.run_id AND s.action_index = m.action_index
    """
)
CANCEL_RESUMES = text(
    f"""
    UPDATE scheduled_resumes s SET status = '{ResumeStatus.CANCELLED}', resumed_at = clock_timestamp()
    FROM unnest(CAST(:run_id AS uuid[]), CAST(:action_index AS int[])) AS m(run_id, action_index)
    WHERE s.run_id = m.run_id AND s.action_index = m.action_index
    """
)
STOP_RUNS = text(
    f"""
    UPDATE automation_runs r SET status = m.status, error = m.error, updated_at = clock_timestamp(),
           finished_at = clock_timestamp()
    FROM unnest(CAST(:run_id AS uuid[]), CAST(:status AS text[]), CAST(:error AS text[]))
         AS m(run_id, status, error)
    WHERE r.id = m.run_id AND r.status = '{RunStatus.WAITING}'
    """
)
