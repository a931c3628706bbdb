"""Reading what the pipeline did with an event: its outbox row, once the runner has recorded it,
and the runs of its rules (PostgreSQL is the record of every evaluation)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from tests.support.processes import wait_for

_EVENTS = text(
    "SELECT id::text, event_name, status, runs_expected, correlation_id, causation_id, depth "
    "FROM outbox_events WHERE aggregate_id = :aggregate AND event_name = :name ORDER BY created_at"
)
_RUNS = text(
    "SELECT id::text, rule_id::text, rule_version, status, trace, error, correlation_id, "
    "causation_id, depth FROM automation_runs WHERE event_id = CAST(:event AS uuid)"
)


def published_events(engine: Engine, aggregate_id: str, name: str) -> list[Any]:
    """Outbox rows of ``name`` for the entity that the runner has marked published (evaluated)."""
    with engine.connect() as conn:
        rows = conn.execute(_EVENTS, {"aggregate": aggregate_id, "name": name}).all()
    return [r for r in rows if r.status == "published"]


def evaluated(engine: Engine, aggregate_id: str, name: str, timeout: float = 15, count: int = 1) -> list[Any]:
    """Wait until ``count`` events of ``name`` for the entity are evaluated and all their runs
    are recorded; return those outbox rows, oldest first."""

    def done() -> list[Any] | None:
        events = published_events(engine, aggregate_id, name)
        if len(events) < count:
            return None
        return events if all(len(runs_of(engine, e.id)) >= (e.runs_expected or 0) for e in events) else None

    return wait_for(done, timeout, 0.05, f"{count} evaluated {name} event(s) of {aggregate_id}")


def runs_of(engine: Engine, event_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(_RUNS, {"event": event_id}).all())
