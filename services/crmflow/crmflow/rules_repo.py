"""Automation rules in PostgreSQL; every change is published to the compacted crm.rule topic
through the outbox, in the same transaction (the evaluator never queries PostgreSQL for rules).

Every change also keeps the rule's new version (crmflow.rule_history) and writes an audit entry
(crmflow.audit), in that same transaction; ``actor`` says who made it (an API key's prefix, or
``cli``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from crmflow import audit, rule_history
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
EDITABLE = rule_history.DEFINITION
"""The fields a user edits: the same ones a rule version keeps."""


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


def _history(
    conn: Connection,
    rule: Mapping[str, Any],
    *,
    change: str,
    actor: str,
    before: Mapping[str, Any] | None,
    restored_from: int | None = None,
) -> None:
    """Keep the rule's new version and audit the change (same transaction as the change)."""
    rule_history.keep(conn, rule, change=change, actor=actor, restored_from=restored_from)
    after = None if change == "delete" else {**rule_history.definition_of(rule), "version": rule["version"]}
    if restored_from is not None and after is not None:
        after["restoredFrom"] = restored_from
    audit.record(
        conn,
        practice_id=rule["practiceId"],
        actor=actor,
        action=f"rule.{change}",
        entity_type="rule",
        entity_id=rule["id"],
        before=None
        if before is None
        else {**rule_history.definition_of(before), "version": before["version"]},
        after=after,
    )


def _live(practice_id: str):
    return (automation_rules.c.practice_id == practice_id) & automation_rules.c.deleted_at.is_(None)


def create_rule(
    conn: Connection, practice_id: str, values: Mapping[str, Any], *, actor: str = audit.CLI
) -> dict:
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
    _history(conn, rule, change="create", actor=actor, before=None)
    return rule


def get_rule(
    conn: Connection, practice_id: str, rule_id: str, *, lock: bool = False, deleted: bool = False
) -> dict | None:
    """The live rule; ``lock`` holds it until the transaction ends (read, validate, then update);
    ``deleted`` finds a deleted rule too (its history stays readable and restorable)."""
    where = (automation_rules.c.practice_id == practice_id if deleted else _live(practice_id)) & (
        automation_rules.c.id == rule_id
    )
    query = select(automation_rules).where(where)
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


def update_rule(
    conn: Connection,
    practice_id: str,
    rule_id: str,
    changes: Mapping[str, Any],
    *,
    actor: str = audit.CLI,
) -> dict | None:
    """Apply a partial update; bumps ``version`` when anything is given."""
    values = {RULE_FIELDS[k]: changes[k] for k in EDITABLE if k in changes}
    if not values:
        return get_rule(conn, practice_id, rule_id)
    before = get_rule(conn, practice_id, rule_id, lock=True)
    if before is None:
        return None
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
    change = rule_history.change_kind(rule_history.definition_of(before), rule_history.definition_of(rule))
    _history(conn, rule, change=change, actor=actor, before=before)
    return rule


def delete_rule(conn: Connection, practice_id: str, rule_id: str, *, actor: str = audit.CLI) -> bool:
    """Hide the rule (its row stays for its runs' history) as a new version, disabled."""
    before = get_rule(conn, practice_id, rule_id, lock=True)
    if before is None:
        return False
    row = (
        conn.execute(
            update(automation_rules)
            .where(_live(practice_id), automation_rules.c.id == rule_id)
            .values(
                deleted_at=func.clock_timestamp(),
                enabled=False,
                version=automation_rules.c.version + 1,
                updated_at=func.clock_timestamp(),
            )
            .returning(automation_rules)
        )
        .mappings()
        .one()
    )
    rule = to_json(row, RULE_FIELDS)
    _publish(conn, rule, deleted=True)
    _history(conn, rule, change="delete", actor=actor, before=before)
    return True


def restore_rule(
    conn: Connection,
    practice_id: str,
    rule_id: str,
    definition: Mapping[str, Any],
    *,
    restored_from: int,
    actor: str = audit.CLI,
) -> dict | None:
    """Make ``definition`` (an earlier version's, validated by the caller) the rule's newest
    version, a new number; a deleted rule comes back. Announced on crm.rule like any change.
    None when the rule is not the practice's. A pause is the rule's present state, not part of
    what is restored: the rule stays paused (or not) as it is (a version from before pauses
    existed must not release held runs unannounced)."""
    before = get_rule(conn, practice_id, rule_id, lock=True, deleted=True)
    if before is None:
        return None
    values = {RULE_FIELDS[k]: definition.get(k) for k in EDITABLE if k != "paused"}
    row = (
        conn.execute(
            update(automation_rules)
            .where(automation_rules.c.practice_id == practice_id, automation_rules.c.id == rule_id)
            .values(
                version=automation_rules.c.version + 1,
                updated_at=func.clock_timestamp(),
                deleted_at=None,
                **values,
            )
            .returning(automation_rules)
        )
        .mappings()
        .one()
    )
    rule = to_json(row, RULE_FIELDS)
    _publish(conn, rule)
    _history(conn, rule, change="restore", actor=actor, before=before, restored_from=restored_from)
    return rule
