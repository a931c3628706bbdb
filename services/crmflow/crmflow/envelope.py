"""The event envelope that travels on the crm.* topics (SPEC section 3).

``EventEnvelope`` is the contract (schemas/event-envelope.schema.json is generated from it);
``parse_event`` is the evaluator's fast, strict reader of raw Kafka values.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crmflow.triggers import TRIGGER_NAMES

MAX_EVENT_BYTES = 1024 * 1024


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Event id (UUID); also the Kafka header `id`.")
    practiceId: str
    name: str = Field(description="Event name, e.g. crm/patient.created.")
    entityType: str
    entityId: str = Field(description="Id of the entity; also the Kafka record key.")
    occurredAt: str = Field(description="ISO-8601 date-time set by the database.")
    data: dict[str, Any]
    correlationId: str
    causationId: str | None = None
    depth: int = Field(0, ge=0, description="0 for user events, parent depth + 1 for caused events.")
    onlyRuleId: str | None = Field(
        None, description="Set by the Test button: only this rule runs (even when disabled)."
    )


class BadEvent(ValueError):
    """An event that can never be processed: dead-lettered with ``reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


_REQUIRED_STR = ("id", "practiceId", "name", "entityType", "entityId")
# Copied into commands and runs, whose contract types them as strings.
_OPTIONAL_STR = ("correlationId", "causationId", "onlyRuleId")


def parse_event(raw: bytes | None) -> dict[str, Any]:
    """Decode and check a raw record value; raise BadEvent with a short machine-readable reason."""
    if not raw:  # a tombstone (None) or an empty value: nothing to evaluate
        raise BadEvent("empty", "record has no value")
    if len(raw) > MAX_EVENT_BYTES:
        raise BadEvent("too_large", f"{len(raw)} bytes > {MAX_EVENT_BYTES}")
    try:
        event = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEvent("not_json", str(exc)[:200]) from None
    if not isinstance(event, dict):
        raise BadEvent("not_object", "value is not a JSON object")
    for key in _REQUIRED_STR:
        if not isinstance(event.get(key), str) or not event[key]:
            raise BadEvent(f"missing_{key}", f"{key} must be a non-empty string")
    if event["name"] not in TRIGGER_NAMES:
        raise BadEvent("unknown_event", "unknown event name")
    if not isinstance(event.get("data"), dict):
        raise BadEvent("data_not_object", "data must be a JSON object")
    for key in _OPTIONAL_STR:
        value = event.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise BadEvent(f"bad_{key}", f"{key} must be a non-empty string or null")
    depth = event.get("depth", 0)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise BadEvent("bad_depth", "depth must be a non-negative integer")
    return event
