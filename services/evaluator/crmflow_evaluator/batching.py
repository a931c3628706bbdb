"""Batches of a Faust stream's events that wait on data, not on a clock.

Faust's ``Stream.take_events(max_, within)`` wakes every ``within`` seconds whether or not an
event came (at 5 ms: 200 asyncio waits a second, ~7% of a core on an idle evaluator). This is the
same generator with one change: while its buffer is empty it waits, without a timeout, for the
first event (or the stream's stop); only then does the ``within`` window start, closed early when
the buffer is full. An idle evaluator then sleeps in the broker's long poll, and an event is
evaluated at most ``within`` after it arrived, as before.

The acking contract is take_events': the stream's own acks are off while the generator runs, a
batch's events are acked only when the consumer asks for the next batch (or closes the
generator), and the buffer takes no new event while a batch is being processed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import Any, cast

from faust import Stream
from faust.types import EventT, StreamT
from mode.utils.futures import notify


def take_batches(stream: StreamT, max_: int, within: float) -> AsyncGenerator[Sequence[EventT], None]:
    agen = _take_batches(cast(Stream, stream), max_, within)
    cast(Any, stream)._active_agens.add(agen)  # closed by Stream.on_stop, as take_events' are
    return agen


async def _take_batches(stream: Stream, max_: int, within: float) -> AsyncGenerator[Sequence[EventT], None]:
    events: list[EventT] = []
    arrived = asyncio.Event()  # the buffer holds at least one event
    full = asyncio.Event()
    consumed = asyncio.Event()
    consuming: asyncio.Future[Any] | None = None
    enable_acks = stream.enable_acks

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:  # a batch is being processed: wait for it to be acked
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("take buffer found current_event is None")
            events.append(event)
            arrived.set()
            if len(events) >= max_:
                full.set()
                consumed.clear()
                await stream.wait(cast(Any, consumed))  # never more than max_ events a batch
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False
    stream.add_processor(add_to_buffer)
    stream._enable_passive(cast(Any, aiter(stream.channel)))
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(cast(Any, arrived))  # no timeout: woken by data or stop
            if within and not full.is_set():
                await stream.wait_for_stopped(cast(Any, full), timeout=within)
            if events:
                consuming = stream.loop.create_future()
                try:
                    yield list(events)
                finally:
                    batch = list(events)
                    events.clear()
                    for event in batch:
                        await stream.ack(event)
                    arrived.clear()
                    notify(consuming)
                    full.clear()
                    consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
