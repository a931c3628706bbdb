"""Bytes the evaluator writes: command values, and the ids of a record for its log fields."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from crmflow import cdc


def _dumps(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), default=str).encode()


def encode_command(message: Mapping[str, Any], raw_event: bytes) -> bytes:
    """A command's JSON. A matched run carries the event, whose JSON is the record's own value:
    its bytes are spliced in rather than the event encoded again for every matched rule."""
    if message.get("event") is None:
        return _dumps(message)
    rest = _dumps({k: v for k, v in message.items() if k != "event"})
    return rest[:-1] + b',"event":' + raw_event + b"}"


HEADER_IDS = {
    cdc.EVENT_ID_HEADER: "eventId",
    cdc.CORRELATION_ID_HEADER: "correlationId",
    cdc.CAUSATION_ID_HEADER: "causationId",
}
"""Record header -> the log field it fills."""


Headers = Iterable[tuple[str, Any]] | Mapping[str, Any] | None


def _pairs(headers: Headers) -> Iterable[tuple[str, Any]]:
    return headers.items() if isinstance(headers, Mapping) else (headers or [])


def header_ids(headers: Headers) -> dict[str, str]:
    """The ids a record's headers carry (log fields of a record whose value cannot be read)."""
    pairs = _pairs(headers)
    return {
        HEADER_IDS[k]: v.decode(errors="replace") if isinstance(v, bytes) else str(v)
        for k, v in pairs
        if k in HEADER_IDS and v
    }


def header_rules_seq(headers: Headers) -> int:
    """An event's ``rulesSeq`` header: its practice's rule changes saved before it (0 if absent
    or unreadable: an event from elsewhere than the outbox waits for nothing)."""
    for k, v in _pairs(headers):
        if k == cdc.RULES_SEQ_HEADER and v:
            try:
                return int(v)
            except ValueError:
                return 0
    return 0
