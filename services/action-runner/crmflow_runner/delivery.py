"""Producing records and knowing they arrived: the runner never acts on a send it cannot confirm."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, Producer


class Undelivered(Exception):
    """The broker did not acknowledge every record in time (unavailable, or refused them)."""


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=tuple)


def produce_all(producer: Producer, records: Sequence[Record], timeout: float) -> None:
    """Send ``records`` and wait for every acknowledgement; raises Undelivered otherwise.

    A partial failure is reported as a whole: callers resend everything, and every consumer of
    these records is idempotent.
    """
    errors: list[KafkaError] = []
    deadline = time.monotonic() + timeout

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    for r in records:
        while True:
            try:
                producer.produce(
                    r.topic, key=r.key, value=r.value, headers=list(r.headers), on_delivery=delivered
                )
                break
            except BufferError:  # local queue full: let deliveries drain
                if time.monotonic() > deadline:
                    raise Undelivered("the producer queue stayed full (broker unavailable?)") from None
                producer.poll(0.1)
    if producer.flush(max(0.0, deadline - time.monotonic())) > 0:
        raise Undelivered(f"{len(records)} record(s) not acknowledged within {timeout} s")
    if errors:
        raise Undelivered(f"{len(errors)} record(s) refused: {errors[0].str()}")
