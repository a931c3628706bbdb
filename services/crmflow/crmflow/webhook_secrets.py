"""Each practice's webhook signing secret (SPEC section 9): rotated, shown once, stored encrypted.

The secret must sign every delivery, so it cannot be stored hashed: it is encrypted with
libsodium's secretbox (XSalsa20-Poly1305, authenticated, a random nonce per secret; the PyNaCl
package, a fraction of the image size of ``cryptography``) under a key derived from
``CRMFLOW_SECRET_KEY``. Several comma-separated keys may be given: the first encrypts, each
decrypts, so the server key itself can be rotated (add the new one first, re-rotate the
practices' secrets or leave them, drop the old key once nothing needs it).

Rotation: the new secret becomes current at once; the previous one keeps signing beside it (a
second ``v1,`` signature in ``webhook-signature``, as Standard Webhooks allows) for
``CRMFLOW_WEBHOOK_SECRET_GRACE_SECONDS`` (24 h by default), so a receiver can switch to the new
secret without rejecting deliveries in between. ``revoke_previous`` (a leaked secret) ends every
earlier secret at once. Secrets never reach a log, an action log or an error message.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Final

import nacl.exceptions
import nacl.secret
from sqlalchemy import Connection, bindparam, delete, func, or_, select, update

from crmflow import audit
from crmflow.db.tables import webhook_secrets
from crmflow.practice_settings import get_practice
from crmflow.webhook_signing import format_secret, new_key

MAX_SIGNING_SECRETS: Final = 3  # the current one and at most two still in their grace period
_KDF_CONTEXT: Final = b"crmflow stored-secret encryption v1\0"


class SecretUnavailable(Exception):
    """The practice has no webhook secret, or it cannot be decrypted with ``CRMFLOW_SECRET_KEY``."""


class SecretBox:
    """Encrypts and decrypts stored secrets with the keys of ``CRMFLOW_SECRET_KEY``."""

    def __init__(self, secret_key: str) -> None:
        keys = [k.strip() for k in secret_key.split(",") if k.strip()]
        if not keys:
            raise ValueError("CRMFLOW_SECRET_KEY is empty")
        self._boxes = [nacl.secret.SecretBox(_box_key(k)) for k in keys]

    def encrypt(self, plain: bytes) -> str:
        """Nonce + ciphertext + tag, urlsafe base64 (the first key's box)."""
        return base64.urlsafe_b64encode(bytes(self._boxes[0].encrypt(plain))).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        try:
            sealed = base64.urlsafe_b64decode(token.encode("ascii"))
        except ValueError:
            sealed = b""
        for box in self._boxes:
            try:
                return bytes(box.decrypt(sealed))
            except (nacl.exceptions.CryptoError, ValueError, TypeError):
                continue
        raise SecretUnavailable(
            "a stored webhook secret cannot be decrypted with CRMFLOW_SECRET_KEY (was it changed?)"
        )


def _box_key(text: str) -> bytes:
    """A secretbox key (32 bytes) from any text: SHA-256 under a fixed context."""
    return hashlib.sha256(_KDF_CONTEXT + text.encode()).digest()


def rotate(
    conn: Connection,
    practice_id: str,
    box: SecretBox,
    *,
    grace_seconds: int,
    revoke_previous: bool = False,
    actor: str = audit.CLI,
) -> str:
    """Make a new current secret for the practice and return it as ``whsec_...`` (the only time it
    is shown). The previous current secret signs for ``grace_seconds`` more (0 or
    ``revoke_previous``: not at all); expired ones are deleted. Raises crm ``NotFound``."""
    get_practice(conn, practice_id, lock=True)  # one rotation at a time per practice
    mine = webhook_secrets.c.practice_id == practice_id
    ended = webhook_secrets.c.signs_until <= func.clock_timestamp()
    if revoke_previous or grace_seconds <= 0:
        conn.execute(delete(webhook_secrets).where(mine))
    else:
        conn.execute(delete(webhook_secrets).where(mine, ended))
        grace = func.clock_timestamp() + func.make_interval(0, 0, 0, 0, 0, 0, bindparam("grace"))
        conn.execute(
            update(webhook_secrets)
            .where(mine, webhook_secrets.c.signs_until.is_(None))
            .values(signs_until=grace),
            {"grace": grace_seconds},
        )
    key = new_key()
    conn.execute(webhook_secrets.insert().values(practice_id=practice_id, secret_encrypted=box.encrypt(key)))
    audit.record(  # that it was rotated, never the secret
        conn,
        practice_id=practice_id,
        actor=actor,
        action="webhook_secret.rotate",
        entity_type="webhook_secret",
        entity_id=practice_id,
        before=None,
        after={"previousSigns": not (revoke_previous or grace_seconds <= 0)},
    )
    return format_secret(key)


def signing_keys(conn: Connection, practice_id: str, box: SecretBox) -> list[bytes]:
    """The keys a delivery is signed with now: the current secret first, then those still in their
    grace period (newest first). Raises :class:`SecretUnavailable` when there is no current one."""
    rows = conn.execute(
        select(webhook_secrets.c.secret_encrypted, webhook_secrets.c.signs_until)
        .where(
            webhook_secrets.c.practice_id == practice_id,
            or_(
                webhook_secrets.c.signs_until.is_(None),
                webhook_secrets.c.signs_until > func.clock_timestamp(),
            ),
        )
        .order_by(webhook_secrets.c.signs_until.is_not(None), webhook_secrets.c.created_at.desc())
        .limit(MAX_SIGNING_SECRETS)
    ).all()
    if not rows or rows[0].signs_until is not None:
        raise SecretUnavailable(
            "the practice has no webhook secret yet (POST /api/practice/webhook-secret creates one)"
        )
    return [box.decrypt(row.secret_encrypted) for row in rows]


def secret_status(conn: Connection, practice_id: str) -> dict[str, object]:
    """``{configured, createdAt, previousSignsUntil}`` — never the secret."""
    rows: Sequence = conn.execute(
        select(webhook_secrets.c.created_at, webhook_secrets.c.signs_until)
        .where(webhook_secrets.c.practice_id == practice_id)
        .order_by(webhook_secrets.c.created_at.desc())
    ).all()
    current = next((r for r in rows if r.signs_until is None), None)
    previous = [r.signs_until for r in rows if r.signs_until is not None]
    return {
        "configured": current is not None,
        "createdAt": current.created_at.isoformat() if current is not None else None,
        "previousSignsUntil": max(previous).isoformat() if previous else None,
    }
