"""Practices and their API keys. Keys are stored as a keyed hash (HMAC-SHA256, server secret).

A key is ``cf_<prefix>_<secret>``; only its hash and its short prefix (to tell keys apart when
revoking) are stored. Lookup is by hash, then a constant-time compare guards the match.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import Connection, func, insert, select, update

from crmflow import audit
from crmflow.db.tables import api_keys, practices

KEY_PREFIX = "cf_"


def hash_key(api_key: str, secret: str) -> str:
    return hmac.new(secret.encode(), api_key.encode(), hashlib.sha256).hexdigest()


def new_key() -> tuple[str, str]:
    """Return (api key, its public prefix)."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def create_practice(conn: Connection, name: str) -> str:
    return str(conn.execute(insert(practices).values(name=name).returning(practices.c.id)).scalar_one())


def practice_exists(conn: Connection, practice_id: str) -> bool:
    return conn.execute(select(practices.c.id).where(practices.c.id == practice_id)).first() is not None


def prefix_of(api_key: str) -> str:
    """The public prefix of a key ``cf_<prefix>_<secret>`` (what the audit log names it by)."""
    return api_key.removeprefix(KEY_PREFIX).split("_", 1)[0]


def create_key(conn: Connection, practice_id: str, secret: str, *, actor: str = audit.CLI) -> str:
    api_key, prefix = new_key()
    key_id = conn.execute(
        insert(api_keys)
        .values(practice_id=practice_id, key_hash=hash_key(api_key, secret), key_prefix=prefix)
        .returning(api_keys.c.id)
    ).scalar_one()
    audit.record(
        conn,
        practice_id=practice_id,
        actor=actor,
        action="api_key.create",
        entity_type="api_key",
        entity_id=str(key_id),
        before=None,
        after={"prefix": prefix},  # never the key, nor its hash
    )
    return api_key


def revoke_key(conn: Connection, key_or_prefix: str, secret: str, *, actor: str = audit.CLI) -> int:
    """Revoke a key given the key itself or its prefix; returns how many keys were revoked."""
    if key_or_prefix.startswith(KEY_PREFIX):
        where = api_keys.c.key_hash == hash_key(key_or_prefix, secret)
    else:
        where = api_keys.c.key_prefix == key_or_prefix
    revoked = conn.execute(
        update(api_keys)
        .where(where, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=func.clock_timestamp())
        .returning(api_keys.c.id, api_keys.c.practice_id, api_keys.c.key_prefix, api_keys.c.revoked_at)
    ).all()
    for row in revoked:
        audit.record(
            conn,
            practice_id=str(row.practice_id),
            actor=actor,
            action="api_key.revoke",
            entity_type="api_key",
            entity_id=str(row.id),
            before={"prefix": row.key_prefix, "revokedAt": None},
            after={"prefix": row.key_prefix, "revokedAt": row.revoked_at.isoformat()},
        )
    return len(revoked)


def practice_for_key(conn: Connection, api_key: str, secret: str) -> str | None:
    """The practice a valid, unrevoked key belongs to, else None."""
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
        return None
    digest = hash_key(api_key, secret)
    row = conn.execute(
        select(api_keys.c.practice_id, api_keys.c.key_hash).where(
            api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)
        )
    ).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return str(row.practice_id)
