"""The outbox writer: an event row written in the caller's transaction, next to the entity write.

Any host application can call ``write_event`` inside its own transaction; Debezium streams the
row's insert from the WAL to ``crm.<aggregate_type>``, keyed by ``aggregate_id``. The database
sets ``occurredAt`` (and ``created_at``), so event time never depends on an application clock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from crmflow.triggers import get_trigger


@dataclass(frozen=True)
class Cause:
    """Where a write comes from: a user (the defaults) or an automation run."""

    correlation_id: str | None = None
    causation_id: str | None = None
    depth: int = 0


USER = Cause()

RULE_AGGREGATE = "rule"
RULE_CHANGED = "crmflow/rule.changed"

INSERT_EVENT = text(
    """
    INSERT INTO outbox_events (id, practice_id, aggregate_type, aggregate_id, event_name, payload,
                               correlation_id, causation_id, depth, created_at, rules_seq)
    SELECT :id, :practice_id, :aggregate_type, :aggregate_id, :event_name,
           CAST(:payload AS jsonb) || jsonb_build_object('occurredAt', to_json(t.now)),
           :correlation_id, :causation_id, :depth, t.now,
           COALESCE((SELECT rules_seq FROM practices WHERE id = :practice_id), 0)
    FROM (SELECT clock_timestamp() AS now) AS t
    RETURNING payload
    """
)
"""Inserts one event row from ``event_row``'s parameters; the database adds ``occurredAt`` and
stamps the practice's ``rules_seq`` (header ``rulesSeq``): every rule change committed before this
statement applies to the event (the evaluator waits until its index has reached that number)."""

_INSERT_STATE = text(
    """
    INSERT INTO outbox_events (id, practice_id, aggregate_type, aggregate_id, event_name, payload,
                               rules_seq)
    VALUES (:id, :practice_id, :aggregate_type, :aggregate_id, :event_name, CAST(:payload AS jsonb),
            :rules_seq)
    """
)
_DELETE_STATE = text("DELETE FROM outbox_events WHERE id = :id")


def event_row(
    *,
    practice_id: str,
    aggregate_type: str,
    name: str,
    entity_type: str,
    entity_id: str,
    data: Mapping[str, Any],
    correlation_id: str | None = None,
    causation_id: str | None = None,
    depth: int = 0,
    only_rule_id: str | None = None,
) -> dict[str, Any]:
    """The bind parameters of ``INSERT_EVENT`` for one event (pure: a new id, the envelope)."""
    event_id = str(uuid.uuid4())
    envelope: dict[str, Any] = {
        "id": event_id,
        "practiceId": practice_id,
        "name": name,
        "entityType": entity_type,
        "entityId": entity_id,
        "data": data,
        "correlationId": correlation_id or event_id,
        "causationId": causation_id,
        "depth": depth,
    }
    if only_rule_id:
        envelope["onlyRuleId"] = only_rule_id
    return {
        "id": event_id,
        "practice_id": practice_id,
        "aggregate_type": aggregate_type,
        "aggregate_id": entity_id,
        "event_name": name,
        "payload": json.dumps(envelope, default=str),
        "correlation_id": envelope["correlationId"],
        "causation_id": causation_id,
        "depth": depth,
    }


def write_event(conn: Connection, row: Mapping[str, Any]) -> dict[str, Any]:
    """Insert one event (an ``event_row``) into the outbox in the caller's transaction; returns
    the envelope as it will appear on Kafka."""
    payload: dict[str, Any] = conn.execute(INSERT_EVENT, dict(row)).one().payload
    return payload


def trigger_event_row(
    practice_id: str,
    name: str,
    entity_id: str,
    data: Mapping[str, Any],
    cause: Cause = USER,
    only_rule_id: str | None = None,
) -> dict[str, Any]:
    """``event_row`` for one of crmflow's trigger events: the trigger catalog says its topic
    (aggregate) and entity type; ``cause`` carries correlation, causation and depth;
    ``only_rule_id`` makes only that rule run (the Test button)."""
    trigger = get_trigger(name)
    return event_row(
        practice_id=practice_id,
        aggregate_type=trigger.aggregate,
        name=name,
        entity_type=trigger.entity_type,
        entity_id=entity_id,
        data=data,
        correlation_id=cause.correlation_id,
        causation_id=cause.causation_id,
        depth=cause.depth,
        only_rule_id=only_rule_id,
    )


def emit(
    conn: Connection,
    practice_id: str,
    name: str,
    entity_id: str,
    data: Mapping[str, Any],
    cause: Cause = USER,
) -> dict[str, Any]:
    """Insert one of crmflow's trigger events (``trigger_event_row``); returns its envelope."""
    return write_event(conn, trigger_event_row(practice_id, name, entity_id, data, cause))


def publish_state(
    conn: Connection,
    *,
    practice_id: str,
    aggregate_type: str,
    aggregate_id: str,
    name: str,
    state: Mapping[str, Any] | None,
    rules_seq: int,
) -> None:
    """Publish the latest state of an aggregate to its compacted topic (None -> tombstone).

    ``rules_seq`` travels as the record's ``rulesSeq`` header, tombstones included: for a rule,
    the practice's rule-change number this state is (``crmflow.rules_repo``).

    The row is deleted in the same transaction: Debezium still reads the insert from the WAL and
    the publication streams inserts only, so state rows never accumulate in the outbox table.
    """
    row_id = str(uuid.uuid4())
    conn.execute(
        _INSERT_STATE,
        {
            "id": row_id,
            "practice_id": practice_id,
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "event_name": name,
            "payload": None if state is None else json.dumps(state, default=str),
            "rules_seq": rules_seq,
        },
    )
    conn.execute(_DELETE_STATE, {"id": row_id})
