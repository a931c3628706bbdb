"""Command records read back from Kafka after a step: when the evaluator produced each event's
command (its record timestamp), to split the latency into stages (measure.stage_breakdown)."""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from crmflow.topics import COMMANDS

READ_TIMEOUT = 120.0


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench-records", "enable.auto.commit": False}
    )


def end_offsets(bootstrap: str, topic: str = COMMANDS) -> dict[int, int]:
    consumer = _consumer(bootstrap)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        }
    finally:
        consumer.close()


def command_times(bootstrap: str, start: dict[int, int], practice_ids: tuple[str, ...]) -> dict[str, float]:
    """Event id -> record timestamp (s) of its EventEvaluated marker, for the markers of the
    practices ``practice_ids`` (event ids are unique) written after the offsets ``start``."""
    end = end_offsets(bootstrap)
    consumer = _consumer(bootstrap)
    wanted = {p: (start.get(p, 0), end[p]) for p in end if end[p] > start.get(p, 0)}
    times: dict[str, float] = {}
    needles = [p.encode() for p in practice_ids]
    deadline = time.monotonic() + READ_TIMEOUT
    try:
        consumer.assign([TopicPartition(COMMANDS, p, lo) for p, (lo, _) in wanted.items()])
        remaining = {p: hi for p, (_, hi) in wanted.items()}
        while remaining and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=1.0):
                if msg.error():
                    continue
                value = msg.value() or b""
                if any(needle in value for needle in needles):
                    command: dict[str, Any] = json.loads(value)
                    if command.get("kind") == "event":
                        times[command["eventId"]] = msg.timestamp()[1] / 1000.0
                p = msg.partition()
                if p in remaining and (msg.offset() or 0) >= remaining[p] - 1:
                    del remaining[p]
    finally:
        consumer.close()
    return times
