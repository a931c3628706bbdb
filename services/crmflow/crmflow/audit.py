"""The audit log (SPEC section 10): who changed which automation setting, when, from what to what.

Every change a practice's compliance officer may ask about writes one entry with :func:`record`,
on the connection of the change itself, so the entry commits (or rolls back) with it. The table
is append-only: a trigger (migration 0011) makes UPDATE, DELETE and TRUNCATE of its rows fail, and
no route changes an entry.

Call it like this (inside the transaction that makes the change)::

    from crmflow import audit

    audit.record(
        conn,
        practice_id=practice_id,
        actor=actor,                      # audit.actor_of_key(api_key) in the API, audit.CLI in the CLI
        action="webhook.secret_rotate",   # <entity>.<verb>, see ACTIONS below
        entity_type="webhook",
        entity_id=webhook_id,
        before={"secretPrefix": old_prefix},
        after={"secretPrefix": new_prefix},
    )

What goes into ``before``/``after``: the settings that changed, as the API shows them (camelCase),
or ``None`` (nothing before a create, nothing after a delete). Never a secret (keys, webhook
secrets, tokens: give a prefix or a fingerprint instead) and never patient data (names, e-mails,
phones, message bodies: a draft send records the draft's id, channel and status, not its text).
As a last guard, :func:`record` replaces the value of any key that names a secret (see
:data:`SECRET_NAMES`) with ``"[redacted]"``.

The actions recorded so far: ``rule.create``, ``rule.update``, ``rule.enable``, ``rule.disable``,
``rule.delete``, ``rule.restore`` (crmflow.rules_repo), ``practice.settings``
(crmflow.practice_settings), ``api_key.create``, ``api_key.revoke`` (crmflow.apikeys) and
``dead_letter.replay`` (``crmflow dlq replay``). Later ones (webhook-secret rotation, draft sends,
bulk run operations) add their own ``<entity>.<verb>`` here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, func, insert, null, select

from crmflow.crm.serialize import json_value
from crmflow.db.tables import audit_log

CLI: Final = "cli"
"""The actor of changes made by the ``crmflow`` command line (and the demo it seeds)."""

SECRET_NAMES: Final = re.compile(r"secret|password|token|apikey|api_key|keyhash|key_hash", re.IGNORECASE)
REDACTED: Final = "[redacted]"


def actor_of_key(prefix: str) -> str:
    """The actor an API key stands for: its public prefix (never the key)."""
    return prefix


def redact(value: Any) -> Any:
    """``value`` with the value of every key that names a secret replaced (recursively)."""
    if isinstance(value, Mapping):
        return {
            k: REDACTED if SECRET_NAMES.search(str(k)) and v is not None else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def record(
    conn: Connection,
    *,
    practice_id: str,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    """Append one audit entry in ``conn``'s transaction (see the module docstring for what to
    pass). ``at`` is the database's clock."""
    conn.execute(
        insert(audit_log).values(
            practice_id=practice_id,
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            before=null() if before is None else redact(before),  # SQL NULL, not JSON null
            after=null() if after is None else redact(after),
        )
    )


def list_entries(
    conn: Connection,
    practice_id: str,
    *,
    entity_type: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """The practice's entries, newest first (``since``: at or after it), and how many match."""
    where = audit_log.c.practice_id == practice_id
    if entity_type is not None:
        where &= audit_log.c.entity_type == entity_type
    if since is not None:
        where &= audit_log.c.at >= since
    total = conn.execute(select(func.count()).select_from(audit_log).where(where)).scalar_one()
    rows = conn.execute(
        select(audit_log)
        .where(where)
        .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [
        {
            "id": r.id,
            "at": json_value(r.at),
            "actor": r.actor,
            "action": r.action,
            "entityType": r.entity_type,
            "entityId": r.entity_id,
            "before": r.before,
            "after": r.after,
        }
        for r in rows
    ]
    return items, int(total)
