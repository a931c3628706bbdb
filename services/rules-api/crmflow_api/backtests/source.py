"""Where a backtest reads past events: the outbox rows PostgreSQL keeps.

Event rows stay in ``outbox_events`` after Debezium streamed them (only the compacted topics'
state rows are deleted at once), with the payload exactly as it went to Kafka, until retention
prunes them (retention keeps the row and nulls its payload: such rows are left out, as if gone).
Reads are keyset pages over ``ix_outbox_events_practice_name`` (practice, event
name, created time, id), each in its own short read-only statement: no lock beyond a plain
snapshot read, nothing held between pages, and every page touches only the practice's events of
the trigger.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

_FIRST = text(
    """
    SELECT id::text AS event_id, created_at, depth, payload -> 'data' AS data,
           payload ? 'onlyRuleId' AS test_only
    FROM outbox_events
    WHERE practice_id = CAST(:practice AS uuid) AND event_name = :name
      AND created_at >= :since AND created_at < :until AND payload IS NOT NULL
    ORDER BY created_at, id LIMIT :limit
    """
)
_NEXT = text(
    """
    SELECT id::text AS event_id, created_at, depth, payload -> 'data' AS data,
           payload ? 'onlyRuleId' AS test_only
    FROM outbox_events
    WHERE practice_id = CAST(:practice AS uuid) AND event_name = :name
      AND (created_at, id) > (:after_at, CAST(:after_id AS uuid)) AND created_at < :until
      AND payload IS NOT NULL
    ORDER BY created_at, id LIMIT :limit
    """
)


_ENVELOPES = text(
    """
    SELECT id::text AS event_id, payload FROM outbox_events
    WHERE practice_id = CAST(:practice AS uuid) AND id = ANY(CAST(:ids AS uuid[]))
    """
)


@dataclass(frozen=True)
class StoredEvent:
    """What a verdict needs of an event: its data and depth (the column is the envelope's), and
    when it was written. The whole envelope is read only for the sample (``envelopes``)."""

    id: str
    occurred_at: datetime
    data: Any
    depth: int

    def as_judged(self) -> dict[str, Any]:
        return {"id": self.id, "data": self.data, "depth": self.depth}


def pages(
    engine: Engine, practice_id: str, event_name: str, since: datetime, until: datetime, page_size: int
) -> Iterator[list[StoredEvent]]:
    """The practice's events named ``event_name`` written in [since, until), oldest first, a page
    at a time (the last page may be short; none is empty)."""
    params: dict[str, Any] = {
        "practice": practice_id,
        "name": event_name,
        "since": since,
        "until": until,
        "limit": page_size,
    }
    query = _FIRST
    while True:
        with engine.connect() as conn:
            rows = conn.execute(query, params).all()
            conn.rollback()  # a read: end the snapshot at once
        if not rows:
            return
        # The Test button's events (onlyRuleId) are samples run for one rule, not history.
        yield [StoredEvent(r.event_id, r.created_at, r.data, r.depth) for r in rows if not r.test_only]
        if len(rows) < page_size:
            return
        params["after_at"], params["after_id"] = rows[-1].created_at, rows[-1].event_id
        query = _NEXT


def envelopes(engine: Engine, practice_id: str, event_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored envelopes (as they went to Kafka) of some of the practice's events, by id."""
    if not event_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(_ENVELOPES, {"practice": practice_id, "ids": event_ids}).all()
        conn.rollback()
    return {r.event_id: r.payload for r in rows}
