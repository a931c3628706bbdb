"""The dead-letter topic: list what was parked and why, and replay it to where it came from.

Listing shows only the ``x-dlq-*`` headers (why, where from) and where the record sits in the
dead-letter topic, never keys or values (they may hold patient data). Replay re-produces the
original key, value and headers to the source topic, partitioned like the original producers
(murmur2), so a replayed record lands on its entity's partition. Every consumer downstream is
idempotent (deterministic run ids, action idempotency keys), so a replay is safe to repeat.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from crmflow import deadletter, topics
from crmflow.kafka import client_config, producer_config
from crmflow.settings import Settings


class ReplayFailed(RuntimeError):
    """The broker did not acknowledge every replayed record."""


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    timestamp: float | None  # when it was dead-lettered (x-dlq-failed-at), seconds since epoch
    service: str
    reason: str
    detail: str
    source_topic: str
    source_partition: int | None
    source_offset: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]  # the original headers, without x-dlq-*

    def summary(self) -> dict[str, Any]:
        """What ``crmflow dlq list`` shows: no key, no value."""
        return {
            "partition": self.partition,
            "offset": self.offset,
            "time": self.timestamp,
            "service": self.service,
            "reason": self.reason,
            "detail": self.detail,
            "sourceTopic": self.source_topic,
            "sourcePartition": self.source_partition,
            "sourceOffset": self.source_offset,
        }

    def practice_id(self) -> str | None:
        """The practice the record belongs to (its ``practiceId`` header, else the ``practiceId`` of
        its JSON value): whose audit log records its replay. The value is read for nothing else."""
        for name, raw in self.headers:
            if name == "practiceId" and raw:
                return raw.decode(errors="replace")
        try:
            value = json.loads(self.value or b"")
        except ValueError:
            return None
        found = value.get("practiceId") if isinstance(value, dict) else None
        return found if isinstance(found, str) and found else None

    def audit_entry(self) -> dict[str, Any]:
        """What the audit log keeps of a replay: where the letter sits and came from, why it was
        parked; never its key or value."""
        return {
            "partition": self.partition,
            "offset": self.offset,
            "reason": self.reason,
            "service": self.service,
            "sourceTopic": self.source_topic,
            "sourcePartition": self.source_partition,
            "sourceOffset": self.source_offset,
        }


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _parse(msg: Any) -> DeadLetter:
    raw = [(k, v or b"") for k, v in (msg.headers() or [])]
    dlq = {k: v.decode(errors="replace") for k, v in raw if k.startswith("x-dlq-")}
    ts_type, ts_ms = msg.timestamp()
    return DeadLetter(
        partition=msg.partition(),
        offset=msg.offset(),
        timestamp=_float(dlq.get(deadletter.FAILED_AT, "")) or (ts_ms / 1000 if ts_type else None),
        service=dlq.get(deadletter.SERVICE, ""),
        reason=dlq.get(deadletter.REASON, ""),
        detail=dlq.get(deadletter.DETAIL, ""),
        source_topic=dlq.get(deadletter.SOURCE_TOPIC, ""),
        source_partition=_int(dlq.get(deadletter.SOURCE_PARTITION, "")),
        source_offset=_int(dlq.get(deadletter.SOURCE_OFFSET, "")),
        key=msg.key(),
        value=msg.value(),
        headers=tuple((k, v) for k, v in raw if not k.startswith("x-dlq-")),
    )


def read_dead_letters(settings: Settings, *, timeout: float = 15.0) -> Iterator[DeadLetter]:
    """Every record on the dead-letter topic now (up to its current end), oldest first."""
    consumer = Consumer(
        {
            **client_config(settings),
            "group.id": "crmflow-dlq-cli",  # never commits: only assign() and read
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        meta = consumer.list_topics(topics.DEAD_LETTERS, timeout=timeout).topics[topics.DEAD_LETTERS]
        if meta.error is not None:
            raise RuntimeError(f"topic {topics.DEAD_LETTERS}: {meta.error.str()}")
        starts: dict[int, int] = {}
        ends: dict[int, int] = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topics.DEAD_LETTERS, p), timeout=timeout
            )
            if high > low:
                starts[p], ends[p] = low, high
        consumer.assign([TopicPartition(topics.DEAD_LETTERS, p, starts[p]) for p in ends])
        positions = {p: starts[p] - 1 for p in ends}
        while any(positions[p] < ends[p] - 1 for p in ends):
            msg = consumer.poll(timeout)
            if msg is None:
                raise TimeoutError(f"no record from {topics.DEAD_LETTERS} within {timeout} s")
            err = msg.error()
            if err is not None:  # no end-of-partition events: enable.partition.eof is off
                raise RuntimeError(err.str())
            partition, offset = msg.partition() or 0, msg.offset() or 0
            positions[partition] = offset
            if offset < ends[partition]:
                yield _parse(msg)
    finally:
        consumer.close()


def select(
    letters: Iterable[DeadLetter], *, offsets: set[int] | None = None, reason: str | None = None
) -> list[DeadLetter]:
    """The letters at ``offsets`` (None: all) with ``reason`` (None: any)."""
    return [
        dl
        for dl in letters
        if (offsets is None or dl.offset in offsets) and (reason is None or dl.reason == reason)
    ]


def replay(settings: Settings, letters: Iterable[DeadLetter], *, timeout: float = 30.0) -> int:
    """Re-produce each letter's original record to its source topic; returns how many."""
    producer = Producer(producer_config(settings))  # murmur2_random: the evaluator's partitioner
    errors: list[str] = []

    def delivered(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            errors.append(err.str())

    count = 0
    for dl in letters:
        if not dl.source_topic:
            raise ValueError(f"dead letter at offset {dl.offset} has no source topic")
        producer.produce(
            dl.source_topic, key=dl.key, value=dl.value, headers=list(dl.headers), on_delivery=delivered
        )
        count += 1
    if producer.flush(timeout) > 0 or errors:
        raise ReplayFailed(errors[0] if errors else f"not acknowledged within {timeout} s")
    return count


def audit_replay(conn: Any, letters: Iterable[DeadLetter], *, actor: str) -> int:
    """One ``dead_letter.replay`` audit entry per replayed letter whose practice is known and exists
    (a letter without one belongs to no practice's log); returns how many were written."""
    from crmflow import audit
    from crmflow.apikeys import practice_exists
    from crmflow.crm.models import is_uuid

    written = 0
    for dl in letters:
        practice_id = dl.practice_id()
        if practice_id is None or not is_uuid(practice_id) or not practice_exists(conn, practice_id):
            continue
        audit.record(
            conn,
            practice_id=practice_id,
            actor=actor,
            action="dead_letter.replay",
            entity_type="dead_letter",
            entity_id=f"{topics.DEAD_LETTERS}[{dl.partition}]@{dl.offset}",
            before=None,
            after=dl.audit_entry(),
        )
        written += 1
    return written
