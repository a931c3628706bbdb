"""The runner is ready while it holds a settled assignment: not from a revocation (a rebalance,
or the assignment lost) until the next assignment."""

from __future__ import annotations

import threading
from typing import Any

from confluent_kafka import TopicPartition

from crmflow_runner.consumer import CommandConsumer


def _consumer() -> CommandConsumer:
    unused: Any = None  # the rebalance callbacks touch no adapter
    return CommandConsumer(
        consumer=unused,
        producer=unused,
        engine=unused,
        executor=unused,
        topic="crmflow.commands",
        batch_size=1,
        poll_seconds=0.1,
        max_retries=1,
        stop=threading.Event(),
    )


def _partitions(*numbers: int) -> list[TopicPartition]:
    return [TopicPartition("crmflow.commands", n) for n in numbers]


def test_not_ready_before_the_first_assignment() -> None:
    assert not _consumer().assigned


def test_ready_once_assigned_not_from_a_revocation_until_the_next_assignment() -> None:
    consumer = _consumer()
    consumer._on_assign(consumer.consumer, _partitions(3, 1))
    assert (consumer.assigned, consumer.partitions) == (True, [1, 3])
    consumer._on_revoke(consumer.consumer, _partitions(3, 1))
    assert (consumer.assigned, consumer.partitions) == (False, [])
    consumer._on_assign(consumer.consumer, _partitions(2))
    assert (consumer.assigned, consumer.partitions) == (True, [2])


def test_an_assignment_of_no_partition_is_settled() -> None:
    consumer = _consumer()
    consumer._on_assign(consumer.consumer, [])
    assert consumer.assigned
