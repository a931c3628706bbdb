"""Publishing one batch's output so that nothing is lost when Faust acks the batch.

Faust acks a ``take_events`` batch when the agent asks for the next one, and also when the agent
raises, so the agent must not move on (nor raise) before the broker has every record of the
batch. Each event's records (its commands, or its dead-letter) are sent, then their deliveries
awaited. A transient failure resends that event's records after a backoff until the broker has
them (resent commands are harmless: the runner dedupes by run id). A record the broker can never
take (too large, corrupt) makes its event a dead-letter instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import (
    CorruptRecordException,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)

log = logging.getLogger(__name__)

PERMANENT = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    CorruptRecordException,
    UnsupportedForMessageFormatError,
)


@dataclass(frozen=True)
class Out:
    """One record to produce to the topic named ``topic``."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None
    is_dead_letter: bool = False


Send = Callable[[Out], Awaitable[Awaitable[Any]]]  # queue a record; returns its delivery future
DeadLetter = Callable[[Any, str, str], Out]  # (event, reason, detail) -> its dead-letter record


async def publish_batch(
    pending: list[tuple[Any, list[Out]]],
    send: Send,
    dead_letter: DeadLetter,
    *,
    backoff: float = 0.2,
    max_backoff: float = 10.0,
) -> None:
    """Return once every event's records are acknowledged by the broker (retrying as needed).

    After a failure, the failed event and every later one are sent again, in order, so a
    patient's commands never overtake each other (the later ones may arrive twice).
    """
    delay = backoff
    while pending:
        queued = [(event, outs, *await _queue(outs, send)) for event, outs in pending]
        # one gather for the whole batch (not one per event), then each event's share of it
        results = await asyncio.gather(
            *(f for _, _, futures, _ in queued for f in futures), return_exceptions=True
        )
        errors: list[BaseException | None] = []
        at = 0
        for _, _, futures, error in queued:
            mine = results[at : at + len(futures)]
            at += len(futures)
            errors.append(error or next((r for r in mine if isinstance(r, BaseException)), None))
        first = next((i for i, error in enumerate(errors) if error is not None), None)
        if first is None:
            return
        pending, transient = [], False
        for (event, outs, _, _), error in zip(queued[first:], errors[first:], strict=True):
            if isinstance(error, PERMANENT) and not outs[0].is_dead_letter:
                pending.append((event, [dead_letter(event, "publish_failed", repr(error))]))
                continue
            if error is not None:
                transient = True
                log.error(
                    "publishing failed, retrying",
                    extra={"error": repr(error)[:300], "topic": outs[0].topic, "retryIn": delay},
                )
            pending.append((event, outs))
        if transient:
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff)


async def _queue(outs: list[Out], send: Send) -> tuple[list[Awaitable[Any]], BaseException | None]:
    """Queue an event's records in order; stop at the first that cannot even be queued."""
    futures: list[Awaitable[Any]] = []
    for out in outs:
        try:
            futures.append(await send(out))
        except Exception as exc:  # refused before queueing, e.g. larger than max_request_size
            return futures, exc
    return futures, None
