"""Automation rules in PostgreSQL; every change is published to the compacted crm.rule topic
through the outbox, in the same transaction (the evaluator never queries PostgreSQL for rules)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from crmflow.crm.serialize import to_json
from crmflow.db.tables import automation_rules, practices
from crmflow.held_runs import release_held_runs
from crmflow.outbox import RULE_AGGREGATE, RULE_CHANGED, publish_state

# The fields of the rule record (crmflow.rule_record.Rule) -> their columns.
RULE_FIELDS: dict[str, str] = {
    "id": "id",
    "practiceId": "practice_id",
    "name": "name",
    "enabled": "enabled",
    "triggerEvent": "trigger_event",
    "conditionsJson": "conditions_json",
    "actionsJson": "actions_json",
    "cancelOn": "cancel_on",
    "enrollment": "enrollment",
    "paused": "paused",
    "version": "version",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
}
EDITABLE = (
    "name",
    "enabled",
    "triggerEvent",
    "conditionsJson",
    "actionsJson",
    "cancelOn",
    "enrollment",
    "paused",
)


def _publish(conn: Connection, rule: Mapping[str, Any], *, deleted: bool = False) -> None:
    """Publish a rule change, numbered by the practice's next ``rules_seq``: the practice row's
    lock orders the practice's rule changes, and events written after the commit carry that
    number, so the evaluator knows it must hold this change before evaluating them."""
    rules_seq = conn.execute(
        update(practices)
        .where(practices.c.id == rule["practiceId"])
        .values(rules_seq=practices.c.rules_seq + 1)
        .returning(practices.c.rules_seq)
    ).scalar_one()
    publish_state(
        conn,
        practice_id=rule["practiceId"],
        aggregate_type=RULE_AGGREGATE,
        aggregate_id=rule["id"],
        name=RULE_CHANGED,
        state=None if deleted else rule,
        rules_seq=rules_seq,
    )


def _live(practice_id: str):
    return (automation_rules.c.practice_id == practice_id) & automation_rules.c.deleted_at.is_(None)


def create_rule(conn: Connection, practice_id: str, values: Mapping[str, Any]) -> dict:
    row = (
        conn.execute(
            insert(automation_rules)
            .values(practice_id=practice_id, **{RULE_FIELDS[k]: values[k] for k in EDITABLE if k in values})
            .returning(automation_rules)
        )
        .mappings()
        .one()
    )
    rule = to_json(row, RULE_FIELDS)
    _publish(conn, rule)
    return rule


def get_rule(conn: Connection, practice_id: str, rule_id: str, *, lock: bool = False) -> dict | None:
    """The live rule; ``lock`` holds it until the transaction ends (read, validate, then update)."""
    query = select(automation_rules).where(_live(practice_id), automation_rules.c.id == rule_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return None if row is None else to_json(row, RULE_FIELDS)


def list_rules(
    conn: Connection,
    practice_id: str,
    *,
    trigger: str | None = None,
    enabled: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict], int]:
    where = _live(practice_id)
    if trigger is not None:
        where &= automation_rules.c.trigger_event == trigger
    if enabled is not None:
        where &= automation_rules.c.enabled == enabled
    total = conn.execute(select(func.count()).select_from(automation_rules).where(where)).scalar_one()
    rows = conn.execute(
        select(automation_rules)
        .where(where)
        .order_by(automation_rules.c.created_at.desc(), automation_rules.c.id)
        .limit(limit)
        .offset(offset)
    ).mappings()
    return [to_json(r, RULE_FIELDS) for r in rows], total


def update_rule(conn: Connection, practice_id: str, rule_id: str, changes: Mapping[str, Any]) -> dict | None:
    """Apply a partial update; bumps ``version`` when anything is given."""
    values = {RULE_FIELDS[k]: changes[k] for k in EDITABLE if k in changes}
    if not values:
        return get_rule(conn, practice_id, rule_id)
    row = (
        conn.execute(
            update(automation_rules)
            .where(_live(practice_id), automation_rules.c.id == rule_id)
            .values(version=automation_rules.c.version + 1, updated_at=func.clock_timestamp(), **values)
            .returning(automation_rules)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    rule = to_json(row, RULE_FIELDS)
    if "paused" in changes and changes["paused"] is None:
        release_held_runs(conn, practice_id, rule_id)
    _publish(conn, rule)
    return rule


def delete_rule(conn: Connection, practice_id: str, rule_id: str) -> bool:
    row = (
        conn.execute(
            update(automation_rules)
            .where(_live(practice_id), automation_rules.c.id == rule_id)
            .values(deleted_at=func.clock_timestamp(), enabled=False)
            .returning(automation_rules)
        )
        .mappings()
        .first()
    )
    if row is None:
        return False
    _publish(conn, to_json(row, RULE_FIELDS), deleted=True)
    return True
