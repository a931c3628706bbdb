"""Rule versions (SPEC section 10): every definition a rule had, kept with the change that made it.

:mod:`crmflow.rules_repo` calls :func:`keep` in the transaction of every change (create, update,
enable/disable, delete, restore), so ``rule_versions`` holds one row per version number the rule
ever had; runs name the version they used (``automation_runs.rule_version``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import Connection, insert, select, tuple_

from crmflow.crm.serialize import json_value
from crmflow.db.tables import rule_versions

DEFINITION: Final = (
    "name",
    "enabled",
    "triggerEvent",
    "conditionsJson",
    "actionsJson",
    "cancelOn",
    "enrollment",
    "paused",
)
"""The fields of a rule a version keeps (everything a user edits)."""


def definition_of(rule: Mapping[str, Any]) -> dict[str, Any]:
    """The definition part of a rule record."""
    return {name: rule.get(name) for name in DEFINITION}


def change_kind(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """``enable``/``disable`` when only ``enabled`` changed between two definitions, else ``update``."""
    changed = {name for name in DEFINITION if before.get(name) != after.get(name)}
    if changed == {"enabled"}:
        return "enable" if after.get("enabled") else "disable"
    return "update"


def keep(
    conn: Connection,
    rule: Mapping[str, Any],
    *,
    change: str,
    actor: str,
    restored_from: int | None = None,
) -> None:
    """Store ``rule`` (a rule record, after the change) as its version ``rule["version"]``."""
    conn.execute(
        insert(rule_versions).values(
            rule_id=rule["id"],
            version=rule["version"],
            practice_id=rule["practiceId"],
            definition=definition_of(rule),
            change=change,
            restored_from=restored_from,
            changed_by=actor,
        )
    )


def _to_json(row: Any) -> dict[str, Any]:
    return {
        "version": row.version,
        "definition": row.definition,
        "changedAt": json_value(row.changed_at),
        "changedBy": row.changed_by,
        "change": row.change,
        "restoredFrom": row.restored_from,
    }


def list_versions(conn: Connection, practice_id: str, rule_id: str) -> list[dict[str, Any]]:
    """Every version of the rule, newest first (empty for an unknown rule or another practice's)."""
    rows = conn.execute(
        select(rule_versions)
        .where(rule_versions.c.practice_id == practice_id, rule_versions.c.rule_id == rule_id)
        .order_by(rule_versions.c.version.desc())
    )
    return [_to_json(r) for r in rows]


def get_version(conn: Connection, practice_id: str, rule_id: str, version: int) -> dict[str, Any] | None:
    row = conn.execute(
        select(rule_versions).where(
            rule_versions.c.practice_id == practice_id,
            rule_versions.c.rule_id == rule_id,
            rule_versions.c.version == version,
        )
    ).first()
    return None if row is None else _to_json(row)


def definitions_of(
    conn: Connection, practice_id: str, versions: set[tuple[str, int]]
) -> dict[tuple[str, int], dict[str, Any]]:
    """(rule id, version) -> that version's definition, for the pairs that were kept (one query):
    what a run detail shows as the rule it ran."""
    if not versions:
        return {}
    rows = conn.execute(
        select(rule_versions.c.rule_id, rule_versions.c.version, rule_versions.c.definition).where(
            rule_versions.c.practice_id == practice_id,
            tuple_(rule_versions.c.rule_id, rule_versions.c.version).in_(sorted(versions)),
        )
    )
    return {(str(r.rule_id), r.version): r.definition for r in rows}
