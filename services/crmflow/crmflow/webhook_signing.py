"""Standard Webhooks signatures (https://www.standardwebhooks.com, SPEC section 9). Pure.

A request carries ``webhook-id`` (the delivery's idempotency key: the same on every attempt, so
the receiver can drop a repeat), ``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>``. A secret is written
``whsec_<base64 of the key bytes>``; the HMAC key is those bytes, not the text.

Several signatures may stand in the header, separated by spaces: during a rotation's grace
period a request is signed with the new secret and the previous one, so a receiver still
holding the previous secret accepts it (``crmflow.webhook_secrets``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

SECRET_PREFIX: Final = "whsec_"
KEY_BYTES: Final = 32  # the convention asks for 24..64 random bytes
ID_HEADER: Final = "webhook-id"
TIMESTAMP_HEADER: Final = "webhook-timestamp"
SIGNATURE_HEADER: Final = "webhook-signature"
SIGNATURE_HEADERS: Final = frozenset({ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER})


class InvalidSecret(ValueError):
    """Not a ``whsec_<base64>`` secret (the message never holds the secret)."""


def new_key() -> bytes:
    """Fresh random key bytes for a practice's secret."""
    return secrets.token_bytes(KEY_BYTES)


def format_secret(key: bytes) -> str:
    """``whsec_<base64>``: how the secret is shown to the practice, once."""
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def parse_secret(secret: str) -> bytes:
    """The key bytes of ``whsec_<base64>`` (the prefix is optional, as receivers accept)."""
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise InvalidSecret("a webhook secret may not be empty")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with ``key`` (the secret's bytes)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class SignedHeaders:
    webhook_id: str
    timestamp: int
    signature: str  # one or more space-separated ``v1,...``

    def as_dict(self) -> dict[str, str]:
        return {
            ID_HEADER: self.webhook_id,
            TIMESTAMP_HEADER: str(self.timestamp),
            SIGNATURE_HEADER: self.signature,
        }


def sign(keys: Sequence[bytes], message_id: str, timestamp: int, body: bytes) -> SignedHeaders:
    """The three headers for ``body``, signed with every key of ``keys`` (the current first)."""
    if not keys:
        raise InvalidSecret("no webhook secret to sign with")
    if not message_id or any(c.isspace() or not c.isprintable() for c in message_id):
        raise ValueError("a webhook-id may not be empty or hold spaces or control characters")
    return SignedHeaders(
        message_id, timestamp, " ".join(signature(key, message_id, timestamp, body) for key in keys)
    )
