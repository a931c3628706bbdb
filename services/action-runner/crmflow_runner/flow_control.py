"""Flow control in the run's transaction (SPEC section 13): enrollment claims, held runs and
parked failures.

- **Enrollment**: a new matched run with an ``enrollmentKey`` claims (rule, key) in
  ``rule_enrollments`` (:data:`CLAIM_ENROLLMENTS`). The primary key serializes concurrent claims
  of one value (two runner instances, two partitions): the second waits for the first to commit,
  then sees its row. ``never`` is refused by any row; ``after_finish`` takes the row over once its
  run has ended (``ended_at``, set by :func:`end_enrollments` when a run reaches a final status).
  A refused run is recorded ``skipped`` with reason ``already_enrolled``.
- **Hold**: a matched run marked ``held`` is recorded ``held`` and its actions kept in
  ``scheduled_resumes`` from action 0 (status ``held``, due = when it was held), while its rule is
  still paused with hold (``crmflow.held_runs``); else (unpaused meanwhile) ``pending`` at once,
  behind the rule's released runs.
  A new run of a rule with released held runs of the same patient not yet executed is inserted
  held too (``statements.INSERT_RUNS``) and queues behind them the same way, so runs of events
  after the unpause cannot overtake them.
- **Parked failures**: a failed run's rest is kept from the failed action (status ``failed``),
  so a bulk retry resumes it through the patient's partition without repeating what succeeded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, text

from crmflow.commands import RunCommandDict, run_command_key
from crmflow.held_runs import rules_still_holding
from crmflow.statuses import ResumeStatus, RunStatus, SkipReason
from crmflow_runner.run_context import db_now

CLAIM_ENROLLMENTS = text(
    """
    INSERT INTO rule_enrollments AS e (rule_id, enrollment_key, practice_id, run_id, reenroll)
    SELECT * FROM unnest(CAST(:rule_id AS uuid[]), CAST(:enrollment_key AS text[]),
                         CAST(:practice_id AS uuid[]), CAST(:run_id AS uuid[]), CAST(:reenroll AS text[]))
    ON CONFLICT (rule_id, enrollment_key) DO UPDATE
       SET run_id = excluded.run_id, reenroll = excluded.reenroll,
           claimed_at = clock_timestamp(), ended_at = NULL
     WHERE excluded.reenroll = 'after_finish' AND e.ended_at IS NOT NULL
    RETURNING e.run_id
    """
)
"""Claim each (rule, key) for its run; returns the runs that got theirs (one statement: the keys
of one call are distinct, ``Executor.execute`` cuts a batch before a key repeats)."""
END_ENROLLMENTS = text(
    """
    UPDATE rule_enrollments SET ended_at = clock_timestamp()
    WHERE run_id = ANY(CAST(:run_id AS uuid[])) AND ended_at IS NULL
    """
)
REFUSE_RUNS = text(
    f"""
    UPDATE automation_runs SET status = '{RunStatus.SKIPPED}', error = '{SkipReason.ALREADY_ENROLLED}',
           updated_at = clock_timestamp(), finished_at = clock_timestamp()
    WHERE id = ANY(CAST(:run_id AS uuid[]))
    """
)
PARK = text(
    """
    INSERT INTO scheduled_resumes (run_id, action_index, practice_id, due_at, command, command_key,
                                   status, rule_id, cancel_keys)
    SELECT p.run_id, p.action_index, p.practice_id, p.due_at, p.command::jsonb, p.command_key,
           p.status, p.rule_id, NULL
    FROM unnest(CAST(:run_id AS uuid[]), CAST(:action_index AS int[]), CAST(:practice_id AS uuid[]),
                CAST(:due_at AS timestamptz[]), CAST(:command AS text[]), CAST(:command_key AS text[]),
                CAST(:status AS text[]), CAST(:rule_id AS uuid[]))
         AS p(run_id, action_index, practice_id, due_at, command, command_key, status, rule_id)
    ON CONFLICT (run_id, action_index) DO UPDATE
       SET status = excluded.status, due_at = excluded.due_at, command = excluded.command,
           resumed_at = NULL
    """
)
"""Keep runs' rest from ``action_index`` with ``status`` (held, pending or failed). A failed
action may be the first of a resume already done: that row is parked again."""


def enrollment_keys(runs: Iterable[RunCommandDict]) -> list[tuple[str, str]]:
    """The (rule, key) each run claims (runs without a key claim nothing)."""
    return [(c["ruleId"], c["enrollmentKey"]) for c in runs if c.get("enrollmentKey")]


def claim_enrollments(conn: Connection, runs: Sequence[RunCommandDict]) -> set[str]:
    """Claim the keys of ``runs`` (new matched runs); returns the ids of those refused, which are
    recorded skipped (already_enrolled)."""
    claiming = sorted(
        (c for c in runs if c.get("enrollmentKey")), key=lambda c: (c["ruleId"], c["enrollmentKey"] or "")
    )
    if not claiming:
        return set()
    params = {
        "rule_id": [c["ruleId"] for c in claiming],
        "enrollment_key": [c["enrollmentKey"] for c in claiming],
        "practice_id": [c["practiceId"] for c in claiming],
        "run_id": [c["runId"] for c in claiming],
        "reenroll": [c.get("reenroll") or "never" for c in claiming],
    }
    granted = {str(r) for r in conn.execute(CLAIM_ENROLLMENTS, params).scalars()}
    refused = {c["runId"] for c in claiming} - granted
    if refused:
        conn.execute(REFUSE_RUNS, {"run_id": sorted(refused)})
    return refused


def end_enrollments(conn: Connection, commands: Iterable[RunCommandDict | Any]) -> None:
    """The runs of ``commands`` reached a final status: their keys may enroll again (after_finish)."""
    ids = sorted({c["runId"] for c in commands if isinstance(c, dict) and c.get("enrollmentKey")})
    if ids:
        conn.execute(END_ENROLLMENTS, {"run_id": ids})


def park(conn: Connection, rows: Sequence[tuple[RunCommandDict, int, ResumeStatus]]) -> None:
    """Keep each run's rest from an action with a status; due now, in the order given."""
    if not rows:
        return
    now = db_now(conn)
    params: dict[str, list[Any]] = {
        name: []
        for name in (
            "run_id",
            "action_index",
            "practice_id",
            "due_at",
            "command",
            "command_key",
            "status",
            "rule_id",
        )
    }
    for i, (command, index, status) in enumerate(rows):
        params["run_id"].append(command["runId"])
        params["action_index"].append(index)
        params["practice_id"].append(command["practiceId"])
        params["due_at"].append(now + timedelta(microseconds=i))  # the order given, kept by due time
        params["command"].append(json.dumps(command))
        params["command_key"].append(run_command_key(command).decode())
        params["status"].append(status.value)
        params["rule_id"].append(command["ruleId"])
    conn.execute(PARK, params)


def hold(conn: Connection, runs: Sequence[RunCommandDict]) -> None:
    """Keep held runs (recorded ``held`` when inserted) in event order: ``held`` while their rule
    still holds, else due at once."""
    if not runs:
        return
    holding = rules_still_holding(conn, [c["ruleId"] for c in runs])
    park(conn, [(c, 0, ResumeStatus.HELD if c["ruleId"] in holding else ResumeStatus.PENDING) for c in runs])
