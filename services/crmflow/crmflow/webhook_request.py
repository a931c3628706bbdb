"""What a ``send_webhook`` action sends (SPEC section 9), shared by the runner (which sends it)
and the rules-api's dry run (which only shows it). Pure.

The body is the rendered ``body`` argument or, without one, the triggering event's envelope,
serialized once as compact UTF-8 JSON: the signature covers exactly those bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from crmflow.webhook_signing import sign

USER_AGENT: Final = "crmflow-webhooks/1"
ENVELOPE_KEYS: Final = (
    "id",
    "practiceId",
    "name",
    "entityType",
    "entityId",
    "occurredAt",
    "data",
    "correlationId",
    "causationId",
    "depth",
)
"""The envelope fields a receiver gets by default (SPEC section 3; not the Test button's marker)."""


def envelope_body(event: Mapping[str, Any]) -> dict[str, Any]:
    return {key: event[key] for key in ENVELOPE_KEYS if key in event}


def body_text(body: Any | None, event: Mapping[str, Any]) -> str:
    """The JSON text to POST: ``body`` (already rendered) or the event envelope."""
    value = envelope_body(event) if body is None else body
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class SignedRequest:
    """A request as it would leave: what the dry run shows."""

    url: str
    headers: dict[str, str]
    body: str
    method: str = "POST"

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, "headers": self.headers, "body": self.body}


def signed_request(
    url: str,
    body: str,
    headers: Mapping[str, str] | None,
    keys: list[bytes],
    message_id: str,
    timestamp: int,
) -> SignedRequest:
    """The request the sender would make (its header names and order), signed with ``keys``."""
    out = {name: value for name, value in (headers or {}).items()}
    lower = {name.lower() for name in out}
    if "content-type" not in lower:
        out["content-type"] = "application/json"
    if "user-agent" not in lower:
        out["user-agent"] = USER_AGENT
    out.update(sign(keys, message_id, timestamp, body.encode()).as_dict())
    return SignedRequest(url, out, body)
