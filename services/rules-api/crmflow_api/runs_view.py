"""Read side of automation runs: run pages, run details with action logs, rule stats and the
trace of one event. Every query filters by practice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, case, func, literal_column, select

from crmflow.crm.serialize import json_value, to_json
from crmflow.db.tables import automation_action_logs, automation_runs, message_deliveries, outbox_events
from crmflow.rule_history import definitions_of

RUN_FIELDS: dict[str, str] = {
    "id": "id",
    "practiceId": "practice_id",
    "ruleId": "rule_id",
    "ruleVersion": "rule_version",
    "eventId": "event_id",
    "eventName": "event_name",
    "status": "status",
    "error": "error",
    "startedAt": "started_at",
    "finishedAt": "finished_at",
}
DETAIL_FIELDS: dict[str, str] = {
    **RUN_FIELDS,
    "trace": "trace",
    "correlationId": "correlation_id",
    "causationId": "causation_id",
    "depth": "depth",
}
ACTION_FIELDS: dict[str, str] = {
    "index": "action_index",
    "type": "action_type",
    "status": "status",
    "args": "args",
    "result": "result",
    "error": "error",
    "attempt": "attempt",
    "createdAt": "created_at",
}
DELIVERY_FIELDS: dict[str, str] = {
    "id": "id",
    "index": "action_index",
    "channel": "channel",
    "status": "status",
    "attempts": "attempts",
    "providerId": "provider_id",
    "error": "error",
    "createdAt": "created_at",
    "finishedAt": "finished_at",
}
"""A run's deliveries (SPEC section 9) as run details show them: no address, no body."""
runs = automation_runs


def list_runs(
    conn: Connection,
    practice_id: str,
    *,
    rule_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    where = runs.c.practice_id == practice_id
    if rule_id is not None:
        where &= runs.c.rule_id == rule_id
    if status is not None:
        where &= runs.c.status == status
    total = conn.execute(select(func.count()).select_from(runs).where(where)).scalar_one()
    rows = conn.execute(
        select(runs).where(where).order_by(runs.c.started_at.desc(), runs.c.id).limit(limit).offset(offset)
    ).mappings()
    return [to_json(r, RUN_FIELDS) for r in rows], total


def _details(conn: Connection, practice_id: str, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Run rows -> RunDetail dicts, with their action logs (one query for all)."""
    if not rows:
        return []
    logs: dict[str, list[dict[str, Any]]] = {str(r["id"]): [] for r in rows}
    log_rows = conn.execute(
        select(automation_action_logs)
        .where(
            automation_action_logs.c.practice_id == practice_id,
            automation_action_logs.c.run_id.in_(list(logs)),
        )
        .order_by(automation_action_logs.c.created_at, automation_action_logs.c.id)
    ).mappings()
    for log in log_rows:
        logs[str(log["run_id"])].append(to_json(log, ACTION_FIELDS))
    definitions = definitions_of(conn, practice_id, {(str(r["rule_id"]), r["rule_version"]) for r in rows})
    sent: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in logs}
    delivery_rows = conn.execute(
        select(*(message_deliveries.c[c] for c in ("run_id", *DELIVERY_FIELDS.values())))
        .where(message_deliveries.c.practice_id == practice_id, message_deliveries.c.run_id.in_(list(logs)))
        .order_by(message_deliveries.c.action_index)
    ).mappings()
    for delivery in delivery_rows:
        sent[str(delivery["run_id"])].append(to_json(delivery, DELIVERY_FIELDS))
    return [
        {
            **to_json(r, DETAIL_FIELDS),
            "actions": logs[str(r["id"])],
            "ruleDefinition": definitions.get((str(r["rule_id"]), r["rule_version"])),
            "deliveries": sent[str(r["id"])],
        }
        for r in rows
    ]


def get_run(conn: Connection, practice_id: str, run_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(runs).where(runs.c.practice_id == practice_id, runs.c.id == run_id)).mappings()
    found = list(row)
    return _details(conn, practice_id, found)[0] if found else None


def runs_of_event(conn: Connection, practice_id: str, event_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(runs)
        .where(runs.c.practice_id == practice_id, runs.c.event_id == event_id)
        .order_by(runs.c.started_at, runs.c.id)
    ).mappings()
    return _details(conn, practice_id, list(rows))


def rule_stats(conn: Connection, practice_id: str, rule_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per rule: status and time of its latest run, and how many runs started in the last 24 h."""
    stats: dict[str, dict[str, Any]] = {
        rid: {"lastRunStatus": None, "lastRunAt": None, "runsLast24h": 0} for rid in rule_ids
    }
    if not rule_ids:
        return stats
    scope = (runs.c.practice_id == practice_id) & runs.c.rule_id.in_(list(rule_ids))
    latest = (
        select(runs.c.rule_id, runs.c.status, runs.c.started_at)
        .where(scope)
        .distinct(runs.c.rule_id)
        .order_by(runs.c.rule_id, runs.c.started_at.desc())
    )
    for row in conn.execute(latest):
        stats[str(row.rule_id)].update(lastRunStatus=row.status, lastRunAt=json_value(row.started_at))
    day_ago = func.now() - literal_column("interval '24 hours'")
    recent = func.sum(case((runs.c.started_at > day_ago, 1), else_=0))
    counts = select(runs.c.rule_id, recent.label("n")).where(scope).group_by(runs.c.rule_id)
    for rule_id, n in conn.execute(counts):
        stats[str(rule_id)]["runsLast24h"] = int(n or 0)
    return stats


def event_trace(conn: Connection, practice_id: str, event_id: str) -> dict[str, Any] | None:
    """outbox -> Kafka -> runs -> actions of one event, and the events its runs caused."""
    ev = (
        conn.execute(
            select(outbox_events).where(
                outbox_events.c.practice_id == practice_id, outbox_events.c.id == event_id
            )
        )
        .mappings()
        .first()
    )
    if ev is None:
        return None
    event_runs = runs_of_event(conn, practice_id, event_id)
    caused = []
    if event_runs:
        caused = [
            {"id": str(c.id), "name": c.event_name, "createdAt": json_value(c.created_at)}
            for c in conn.execute(
                select(outbox_events.c.id, outbox_events.c.event_name, outbox_events.c.created_at)
                .where(
                    outbox_events.c.practice_id == practice_id,
                    outbox_events.c.causation_id.in_([r["id"] for r in event_runs]),
                )
                .order_by(outbox_events.c.created_at)
            )
        ]
    payload = ev["payload"] or {}  # null once retention pruned it: the trace keeps ids and times
    kafka = None
    if ev["kafka_topic"] is not None:
        kafka = {
            "topic": ev["kafka_topic"],
            "partition": ev["kafka_partition"],
            "offset": ev["kafka_offset"],
            "timestamp": json_value(ev["kafka_timestamp"]),
        }
    return {
        "id": str(ev["id"]),
        "name": ev["event_name"],
        "entityType": payload.get("entityType", ev["aggregate_type"]),
        "entityId": ev["aggregate_id"],
        "practiceId": str(ev["practice_id"]),
        "correlationId": ev["correlation_id"],
        "causationId": ev["causation_id"],
        "depth": ev["depth"],
        "status": ev["status"],
        "outbox": {"createdAt": json_value(ev["created_at"]), "publishedAt": json_value(ev["published_at"])},
        "kafka": kafka,
        "runs": event_runs,
        "causedEvents": caused,
    }


def event_progress(conn: Connection, practice_id: str, event_id: str) -> tuple[int | None, list[dict]]:
    """(runs the evaluator announced, or None before its marker arrived; the runs recorded so far)."""
    expected = conn.execute(
        select(outbox_events.c.runs_expected).where(
            outbox_events.c.practice_id == practice_id,
            outbox_events.c.id == event_id,
            outbox_events.c.status == "published",
        )
    ).scalar_one_or_none()
    return expected, runs_of_event(conn, practice_id, event_id)
