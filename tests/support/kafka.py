"""Reading real topics in tests: from the current end, until a matching record shows up."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, Message, TopicPartition


class TopicTail:
    """A group-less consumer positioned at the end of every partition of ``topic``."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "tests-tail", "enable.auto.commit": False}
        )
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        # Assign the end offsets as they are now, so every record written after this point is
        # seen. (Assigning OFFSET_END resolves it when fetching starts, i.e. at the first poll,
        # after the test's writes, and a seek() right after assign() may be ignored: CI lost a
        # record that way.)
        ends = []
        for p in partitions:
            _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends.append(TopicPartition(topic, p, high))
        self.consumer.assign(ends)

    def find(self, match: Callable[[Message], bool], timeout: float = 15) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.5)
            if msg is not None and msg.error() is None and match(msg):
                return msg
        raise AssertionError(f"no matching record within {timeout} s")

    def close(self) -> None:
        self.consumer.close()


def headers_of(msg: Message) -> dict[str, str | None]:
    """A record's headers as text (a header without a value as None)."""
    raw = msg.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in pairs}


def value_of(msg: Message) -> bytes:
    """A record's value (a test that expects a tombstone reads ``msg.value()`` itself)."""
    value = msg.value()
    assert isinstance(value, bytes), "a record without a value"
    return value


def key_of(msg: Message) -> bytes:
    key = msg.key()
    assert isinstance(key, bytes), "a record without a key"
    return key
