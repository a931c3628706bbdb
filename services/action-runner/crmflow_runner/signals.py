"""Awaited events (SPEC section 13): the runner's side of ``wait_for_event``, without a lost race.

A ``signal`` command (an event some rule's ``wait_for_event`` awaits) is applied at its place in
the partition, like a cancel: it is recorded in ``awaited_signals`` (idempotent: keyed by rule,
wait key and event), and every run of the rule waiting with that wait key whose triggering event
occurred before it is resumed: its pending resume row gets the event (``waited_event``) and is
due now, so the scheduler sends its ResumeCommand through the run's own partition. A row the
scheduler already sent at its timeout is no longer pending: the timeout won, the event does not
count (the first to commit decides).

A run reaching its wait (executor) looks for a recorded signal of an event that occurred after
its triggering event before it parks: an awaited event that reached the runner first (another
partition, or a delay before the wait) is taken at once.

The two sides check each other's rows, so they are serialized per (practice, rule, wait key) by
a transaction-scoped advisory lock taken before either looks: whichever commits first, the other
sees its row (PostgreSQL's read committed: each statement sees what committed before it began).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from crmflow.commands import SignalCommandDict
from crmflow.statuses import ResumeStatus
from crmflow.wait_for_event import occurred_after
from crmflow_runner import metrics

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(CAST(:keys AS text[])) AS k")
_RECORD = text(
    """
    INSERT INTO awaited_signals (practice_id, rule_id, wait_key, event_id, occurred_at, event)
    SELECT s.practice_id, s.rule_id, s.wait_key, s.event_id, s.occurred_at, s.event::jsonb
    FROM unnest(CAST(:practice_id AS uuid[]), CAST(:rule_id AS uuid[]), CAST(:wait_key AS text[]),
                CAST(:event_id AS uuid[]), CAST(:occurred_at AS timestamptz[]), CAST(:event AS text[]))
         AS s(practice_id, rule_id, wait_key, event_id, occurred_at, event)
    ON CONFLICT DO NOTHING
    """
)
_WAITING = text(
    f"""
    SELECT k.key, s.run_id, s.action_index, s.command->'event'->>'occurredAt' AS trigger_at
    FROM unnest(CAST(:practice_id AS uuid[]), CAST(:rule_id AS uuid[]), CAST(:wait_key AS text[]))
         WITH ORDINALITY AS k(practice_id, rule_id, wait_key, key)
    JOIN scheduled_resumes s
      ON s.practice_id = k.practice_id AND s.rule_id = k.rule_id AND s.wait_key = k.wait_key
     AND s.status = '{ResumeStatus.PENDING}' AND s.waited_event IS NULL
    ORDER BY s.run_id, s.action_index
    FOR UPDATE OF s
    """
)
"""The runs waiting with each key (its ordinal ``key``, from 1), not yet resumed by an event."""
_RESUME = text(
    f"""
    UPDATE scheduled_resumes s SET waited_event = CAST(m.event AS jsonb), due_at = clock_timestamp()
    FROM unnest(CAST(:run_id AS uuid[]), CAST(:action_index AS int[]), CAST(:event AS text[]))
         AS m(run_id, action_index, event)
    WHERE s.run_id = m.run_id AND s.action_index = m.action_index AND s.status = '{ResumeStatus.PENDING}'
    """
)
_FIRST_AFTER = text(
    """
    SELECT event FROM awaited_signals
    WHERE practice_id = :practice_id AND rule_id = :rule_id AND wait_key = :wait_key
      AND occurred_at > CAST(:after AS timestamptz)
    ORDER BY occurred_at, event_id
    LIMIT 1
    """
)
_PRUNE = text(
    """
    DELETE FROM awaited_signals WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM awaited_signals
        WHERE created_at < clock_timestamp() - make_interval(secs => :retention)
        LIMIT :limit))
    """
)


def lock_key(practice_id: str, rule_id: str, wait_key: str) -> str:
    return f"{practice_id}/{rule_id}/{wait_key}"


def lock(conn: Connection, keys: Sequence[str]) -> None:
    """Take the advisory locks of ``keys`` (sorted: two transactions take them in one order)."""
    if keys:
        conn.execute(_LOCK, {"keys": sorted(set(keys))})


def first_after(conn: Connection, practice_id: str, rule_id: str, wait_key: str, after: Any) -> Any:
    """The earliest recorded awaited event for the wait that occurred after ``after`` (the
    triggering event's occurredAt), or None. The caller holds the key's lock."""
    if not isinstance(after, str):
        return None
    params = {"practice_id": practice_id, "rule_id": rule_id, "wait_key": wait_key, "after": after}
    return conn.execute(_FIRST_AFTER, params).scalar_one_or_none()


def apply(conn: Connection, signals: Sequence[SignalCommandDict]) -> None:
    """Record consecutive signals and resume the runs waiting for them, in order (a run takes the
    first signal that counts for it)."""
    if not signals:
        return
    lock(conn, [lock_key(s["practiceId"], s["ruleId"], s["waitKey"]) for s in signals])
    recorded = {
        "practice_id": [s["practiceId"] for s in signals],
        "rule_id": [s["ruleId"] for s in signals],
        "wait_key": [s["waitKey"] for s in signals],
        "event_id": [s["eventId"] for s in signals],
        "occurred_at": [s["occurredAt"] for s in signals],
        "event": [json.dumps(s["event"]) for s in signals],
    }
    conn.execute(_RECORD, recorded)
    metrics.SIGNALS.labels("recorded").inc(len(signals))
    keys = {(s["practiceId"], s["ruleId"], s["waitKey"]): None for s in signals}
    ordered = list(keys)
    lookup = {
        "practice_id": [k[0] for k in ordered],
        "rule_id": [k[1] for k in ordered],
        "wait_key": [k[2] for k in ordered],
    }
    waiting: dict[tuple[str, str, str], list[Any]] = {}
    for row in conn.execute(_WAITING, lookup):
        waiting.setdefault(ordered[row.key - 1], []).append(row)
    resumed: dict[tuple[str, int], str] = {}
    for s in signals:
        for row in waiting.get((s["practiceId"], s["ruleId"], s["waitKey"]), []):
            ident = (str(row.run_id), row.action_index)
            if ident not in resumed and occurred_after(s["occurredAt"], row.trigger_at):
                resumed[ident] = json.dumps(s["event"])
    if resumed:
        items = list(resumed.items())
        conn.execute(
            _RESUME,
            {
                "run_id": [run_id for (run_id, _), _ in items],
                "action_index": [index for (_, index), _ in items],
                "event": [event for _, event in items],
            },
        )
        metrics.SIGNALS.labels("resumed").inc(len(items))


def prune(conn: Connection, retention_seconds: float, limit: int = 1000) -> int:
    """Delete up to ``limit`` signals recorded more than ``retention_seconds`` ago; returns how many."""
    return conn.execute(_PRUNE, {"retention": retention_seconds, "limit": limit}).rowcount
