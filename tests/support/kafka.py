"""Reading real topics in tests: from the current end, until a matching record shows up."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import OFFSET_END, Consumer, Message, TopicPartition


class TopicTail:
    """A group-less consumer positioned at the end of every partition of ``topic``."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "tests-tail", "enable.auto.commit": False}
        )
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p, OFFSET_END) for p in partitions]
        self.consumer.assign(tps)
        # Resolve OFFSET_END now, so records written after this point are seen.
        for tp in tps:
            _, high = self.consumer.get_watermark_offsets(tp, timeout=10)
            self.consumer.seek(TopicPartition(topic, tp.partition, high))

    def find(self, match: Callable[[Message], bool], timeout: float = 15) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.5)
            if msg is not None and msg.error() is None and match(msg):
                return msg
        raise AssertionError(f"no matching record within {timeout} s")

    def close(self) -> None:
        self.consumer.close()
