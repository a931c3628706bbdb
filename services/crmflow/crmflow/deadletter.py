"""Dead-letter records: the original key/value, with why and where from in headers."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

REASON = "x-dlq-reason"
DETAIL = "x-dlq-detail"
SERVICE = "x-dlq-service"
SOURCE_TOPIC = "x-dlq-source-topic"
SOURCE_PARTITION = "x-dlq-source-partition"
SOURCE_OFFSET = "x-dlq-source-offset"
FAILED_AT = "x-dlq-failed-at"


def dead_letter_headers(
    *,
    reason: str,
    detail: str,
    service: str,
    topic: str,
    partition: int,
    offset: int,
    original: Iterable[tuple[str, str | bytes | None]] | Mapping[str, Any] | None = None,
) -> list[tuple[str, bytes]]:
    pairs = original.items() if isinstance(original, Mapping) else (original or [])
    headers = [(k, _bytes(v)) for k, v in pairs if not k.startswith("x-dlq-")]
    headers += [
        (REASON, reason.encode()),
        (DETAIL, detail[:1000].encode()),
        (SERVICE, service.encode()),
        (SOURCE_TOPIC, topic.encode()),
        (SOURCE_PARTITION, str(partition).encode()),
        (SOURCE_OFFSET, str(offset).encode()),
        (FAILED_AT, str(time.time()).encode()),
    ]
    return headers


def _bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else value.encode()
