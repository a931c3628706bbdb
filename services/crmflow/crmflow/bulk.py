"""Bulk cancel and retry of runs (SPEC section 13), in PostgreSQL.

``create_operation`` (the rules-api, ``POST /api/runs/bulk``) records the operation and, in the
same transaction, the runs of the caller's practice it matches *now*: ``cancel`` the ``waiting``
and ``held`` runs, ``retry`` the ``failed`` runs whose rest the runner parked (from the failed
action). The action-runner's bulk worker then applies it in chunks (``apply_chunk``), each chunk
one transaction that re-checks every run's state under its row locks, so:

- a request made twice changes nothing more: what the first cancelled is no longer waiting, what
  it retried is no longer failed (the second matches none of them, or finds them changed);
- ``cancel`` ends the run ``cancelled`` and logs its remaining actions ``skipped`` (as a cancelOn
  does); a resume already on its way then finds its row cancelled and does nothing;
- ``retry`` makes the parked rest due at once (in the order the runs started): the scheduler
  sends its resume through the patient's partition, and the runner executes it from the failed
  action; actions that succeeded have their idempotency key (``action_executions``) and are never
  executed again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import Connection, text

from crmflow import audit
from crmflow.statuses import ActionStatus, ResumeStatus, RunStatus

ACTIONS: Final = ("cancel", "retry")
CANCELLABLE: Final = (RunStatus.WAITING.value, RunStatus.HELD.value)
RETRYABLE: Final = (RunStatus.FAILED.value,)
CHUNK: Final = 200


def audit_bulk_operation(
    conn: Connection, practice_id: str, operation: Mapping[str, Any], actor: str
) -> None:
    """The audit entry of a requested bulk operation (SPEC section 10), in the request's
    transaction: what was asked and how many runs it matched (no run contents)."""
    audit.record(
        conn,
        practice_id=practice_id,
        actor=actor,
        action=f"runs.bulk_{operation['action']}",
        entity_type="bulk_operation",
        entity_id=str(operation["id"]),
        before=None,
        after={"action": operation["action"], "filter": operation["filter"], "matched": operation["matched"]},
    )


_MATCH = {
    "cancel": f"r.status IN ('{RunStatus.WAITING}', '{RunStatus.HELD}')",
    "retry": f"""r.status = '{RunStatus.FAILED}' AND EXISTS (
        SELECT 1 FROM scheduled_resumes s
        WHERE s.run_id = r.id AND s.practice_id = r.practice_id AND s.status = '{ResumeStatus.FAILED}')""",
}


def _where(action: str, run_filter: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    clauses = ["r.practice_id = :practice_id", _MATCH[action]]
    params: dict[str, Any] = {}
    if run_filter.get("ruleId"):
        clauses.append("r.rule_id = CAST(:rule_id AS uuid)")
        params["rule_id"] = run_filter["ruleId"]
    if run_filter.get("status"):
        clauses.append("r.status = :status")
        params["status"] = run_filter["status"]
    if run_filter.get("since"):
        clauses.append("r.started_at >= CAST(:since AS timestamptz)")
        params["since"] = run_filter["since"]
    if run_filter.get("until"):
        clauses.append("r.started_at < CAST(:until AS timestamptz)")
        params["until"] = run_filter["until"]
    return " AND ".join(clauses), params


def create_operation(
    conn: Connection, practice_id: str, action: str, run_filter: Mapping[str, Any], *, actor: str = audit.CLI
) -> dict[str, Any]:
    """Record the operation and the runs it matches; returns it (``queued``; ``done`` at once when
    it matches nothing). The same request while an identical one is still open returns that one."""
    open_op = conn.execute(
        text(
            """
            SELECT id FROM bulk_operations
            WHERE practice_id = :practice_id AND action = :action AND filter = CAST(:filter AS jsonb)
              AND status <> 'done'
            ORDER BY created_at LIMIT 1
            """
        ),
        {"practice_id": practice_id, "action": action, "filter": json.dumps(dict(run_filter))},
    ).scalar()
    if open_op is not None:
        found = get_operation(conn, practice_id, str(open_op))
        if found is not None:
            return found
    where, params = _where(action, run_filter)
    op_id = conn.execute(
        text(
            """
            INSERT INTO bulk_operations (practice_id, action, filter, matched)
            VALUES (:practice_id, :action, CAST(:filter AS jsonb), 0) RETURNING id
            """
        ),
        {"practice_id": practice_id, "action": action, "filter": json.dumps(dict(run_filter))},
    ).scalar_one()
    matched = conn.execute(
        text(
            f"""
            INSERT INTO bulk_operation_runs (operation_id, run_id)
            SELECT CAST(:op_id AS uuid), r.id FROM automation_runs r WHERE {where}
            """
        ),
        {"op_id": op_id, "practice_id": practice_id, **params},
    ).rowcount
    conn.execute(
        text(
            """
            UPDATE bulk_operations SET matched = :matched,
                   status = CASE WHEN :matched = 0 THEN 'done' ELSE status END,
                   finished_at = CASE WHEN :matched = 0 THEN clock_timestamp() END
            WHERE id = :op_id
            """
        ),
        {"op_id": op_id, "matched": matched},
    )
    operation = get_operation(conn, practice_id, str(op_id))
    assert operation is not None
    audit_bulk_operation(conn, practice_id, operation, actor)
    return operation


def get_operation(conn: Connection, practice_id: str, op_id: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            text(
                """
                SELECT id, action, filter, status, matched, processed, changed, created_at, finished_at
                FROM bulk_operations WHERE id = :id AND practice_id = :practice_id
                """
            ),
            {"id": op_id, "practice_id": practice_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return {
        "id": str(row["id"]),
        "action": row["action"],
        "filter": row["filter"],
        "status": row["status"],
        "matched": row["matched"],
        "processed": row["processed"],
        "changed": row["changed"],
        "createdAt": row["created_at"].isoformat(),
        "finishedAt": None if row["finished_at"] is None else row["finished_at"].isoformat(),
    }


# -- the worker's side ---------------------------------------------------------------------------
_NEXT_OPERATION = text(
    """
    SELECT id, practice_id, action FROM bulk_operations WHERE status <> 'done'
    ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED
    """
)
_NEXT_RUNS = text(
    """
    SELECT run_id FROM bulk_operation_runs WHERE operation_id = :op_id AND outcome IS NULL
    ORDER BY run_id LIMIT :limit
    """
)
_CANCEL_RESUMES = text(
    f"""
    UPDATE scheduled_resumes s SET status = '{ResumeStatus.CANCELLED}', resumed_at = clock_timestamp()
    FROM automation_runs r
    WHERE s.run_id = ANY(CAST(:ids AS uuid[])) AND s.practice_id = :practice_id
      AND s.status IN ('{ResumeStatus.PENDING}', '{ResumeStatus.EMITTED}', '{ResumeStatus.HELD}')
      AND r.id = s.run_id AND r.status IN ('{RunStatus.WAITING}', '{RunStatus.HELD}')
    RETURNING s.run_id, s.action_index, s.command
    """
)
_CANCEL_RUNS = text(
    f"""
    UPDATE automation_runs SET status = '{RunStatus.CANCELLED}', error = :error,
           updated_at = clock_timestamp(), finished_at = clock_timestamp()
    WHERE id = ANY(CAST(:ids AS uuid[])) AND practice_id = :practice_id
    """
)
_SKIP_LOG = text(
    f"""
    INSERT INTO automation_action_logs (practice_id, run_id, action_index, action_type, status,
                                        result, error, attempt)
    SELECT :practice_id, l.run_id, l.action_index, l.action_type, '{ActionStatus.SKIPPED}',
           CAST(:result AS jsonb), :error, 1
    FROM unnest(CAST(:run_id AS uuid[]), CAST(:action_index AS int[]), CAST(:action_type AS text[]))
         AS l(run_id, action_index, action_type)
    """
)
_END_ENROLLMENTS = text(
    """
    UPDATE rule_enrollments SET ended_at = clock_timestamp()
    WHERE run_id = ANY(CAST(:ids AS uuid[])) AND ended_at IS NULL
    """
)
_RETRY_RESUMES = text(
    f"""
    UPDATE scheduled_resumes s SET status = '{ResumeStatus.PENDING}', due_at = r.started_at,
           resumed_at = NULL
    FROM automation_runs r
    WHERE s.run_id = ANY(CAST(:ids AS uuid[])) AND s.practice_id = :practice_id
      AND s.status = '{ResumeStatus.FAILED}' AND r.id = s.run_id AND r.status = '{RunStatus.FAILED}'
    RETURNING s.run_id
    """
)
"""Due at once, ordered by when each run started: a patient's retried runs resume in event order."""
_RETRY_RUNS = text(
    f"""
    UPDATE automation_runs SET status = '{RunStatus.WAITING}', error = NULL,
           updated_at = clock_timestamp(), finished_at = NULL
    WHERE id = ANY(CAST(:ids AS uuid[])) AND practice_id = :practice_id
    """
)
_REENROLL = text(
    """
    UPDATE rule_enrollments SET ended_at = NULL
    WHERE run_id = ANY(CAST(:ids AS uuid[])) AND ended_at IS NOT NULL
    """
)
"""A retried run is active again: the key value it enrolled is its own again, unless a later run
has enrolled it meanwhile (the row then names that run)."""
_OUTCOMES = text(
    """
    UPDATE bulk_operation_runs SET outcome = CASE WHEN run_id = ANY(CAST(:changed AS uuid[]))
                                             THEN 'changed' ELSE 'unchanged' END
    WHERE operation_id = :op_id AND run_id = ANY(CAST(:ids AS uuid[]))
    """
)
_PROGRESS = text(
    """
    UPDATE bulk_operations SET processed = processed + :processed, changed = changed + :changed,
           updated_at = clock_timestamp(),
           status = CASE WHEN processed + :processed >= matched THEN 'done' ELSE 'running' END,
           finished_at = CASE WHEN processed + :processed >= matched THEN clock_timestamp() END
    WHERE id = :op_id
    """
)


def apply_chunk(conn: Connection, limit: int = CHUNK) -> int:
    """Apply the oldest open operation to its next ``limit`` runs (locked: several workers never
    take the same operation at once); returns how many runs were processed (0: nothing open)."""
    op = conn.execute(_NEXT_OPERATION).first()
    if op is None:
        return 0
    op_id, practice_id = str(op.id), str(op.practice_id)
    ids = [str(r) for r in conn.execute(_NEXT_RUNS, {"op_id": op_id, "limit": limit}).scalars()]
    changed = (
        _cancel(conn, op_id, practice_id, ids) if op.action == "cancel" else _retry(conn, practice_id, ids)
    )
    if ids:
        conn.execute(_OUTCOMES, {"op_id": op_id, "ids": ids, "changed": sorted(changed)})
    conn.execute(_PROGRESS, {"op_id": op_id, "processed": len(ids), "changed": len(changed)})
    return max(len(ids), 1)  # an operation closed without runs left is progress too


def _cancel(conn: Connection, op_id: str, practice_id: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    rows = conn.execute(_CANCEL_RESUMES, {"ids": ids, "practice_id": practice_id}).all()
    cancelled = sorted({str(r.run_id) for r in rows})
    if not cancelled:
        return set()
    error = f"cancelled by bulk operation {op_id}"
    conn.execute(_CANCEL_RUNS, {"ids": cancelled, "practice_id": practice_id, "error": error})
    logs: dict[str, list[Any]] = {"run_id": [], "action_index": [], "action_type": []}
    enrolled = []
    for r in rows:
        actions = (r.command or {}).get("actions") or []
        for index in range(r.action_index, len(actions)):
            logs["run_id"].append(str(r.run_id))
            logs["action_index"].append(index)
            logs["action_type"].append(str((actions[index] or {}).get("type")))
        if (r.command or {}).get("enrollmentKey"):
            enrolled.append(str(r.run_id))
    if logs["run_id"]:
        result = json.dumps({"bulkOperationId": op_id})
        conn.execute(_SKIP_LOG, {"practice_id": practice_id, "result": result, "error": error, **logs})
    if enrolled:
        conn.execute(_END_ENROLLMENTS, {"ids": enrolled})
    return set(cancelled)


def _retry(conn: Connection, practice_id: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    retried = sorted(
        {str(r) for r in conn.execute(_RETRY_RESUMES, {"ids": ids, "practice_id": practice_id}).scalars()}
    )
    if retried:
        conn.execute(_RETRY_RUNS, {"ids": retried, "practice_id": practice_id})
        conn.execute(_REENROLL, {"ids": retried})
    return set(retried)
