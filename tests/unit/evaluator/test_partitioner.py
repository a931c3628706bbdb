"""A key lands on the same partition whichever crmflow client produces it: the evaluator
partitions as aiokafka's default (murmur2, as Kafka's Java client; its own CachedPartitioner only
memoises the hash) and crmflow's librdkafka producers ask for ``murmur2_random``, its librdkafka
name. That the two agree on a real broker is tests/integration/test_evaluator_partitioner.py's to
show; here: crmflow's side of it."""

from __future__ import annotations

import uuid

from aiokafka.partitioner import DefaultPartitioner

from crmflow.commands import command_key
from crmflow.kafka import producer_config
from crmflow.settings import Settings
from crmflow_evaluator.app import build_app
from crmflow_evaluator.partitioner import CachedPartitioner

KEYS = [
    *(command_key(str(uuid.uuid4()), str(uuid.uuid4()), "x") for _ in range(300)),
    *(f"key-{i}".encode() for i in range(300)),
    b"",
    b"\x00\xff",
]


def test_the_evaluator_partitions_with_the_memoised_default() -> None:
    assert isinstance(build_app(Settings()).conf.producer_partitioner, CachedPartitioner)


def test_memoised_partitioner_picks_aiokafkas_default_partition() -> None:
    ours, theirs = CachedPartitioner(), DefaultPartitioner()
    for count in (1, 6, 7, 12):
        partitions = list(range(count))
        for key in KEYS * 2:  # the second time from the cache
            assert ours(key, partitions, partitions) == theirs(key, partitions, partitions)


def test_no_key_goes_to_an_available_partition() -> None:
    assert CachedPartitioner()(None, [0, 1, 2], [2]) == 2
    assert CachedPartitioner()(None, [0, 1, 2], []) in (0, 1, 2)


def test_crmflows_librdkafka_producers_partition_by_murmur2() -> None:
    assert producer_config(Settings())["partitioner"] == "murmur2_random"
