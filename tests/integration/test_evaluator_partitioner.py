"""On a real broker, confluent-kafka with crmflow's producer config (partitioner murmur2_random)
and aiokafka's default partitioner (what Faust, so the evaluator, uses) put every key on the
same partition, so a patient's commands stay in order whichever service produced them."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from crmflow.commands import command_key
from crmflow.kafka import producer_config

pytestmark = pytest.mark.integration
PARTITIONS = 7  # not a power of two, so a wrong modulo or sign handling shows
KEYS = [command_key(str(uuid.uuid4()), str(uuid.uuid4()), "x") for _ in range(300)] + [
    f"key-{i}".encode() for i in range(100)
]


@pytest.fixture
def topic(stack, settings):
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    name = f"test.partitioner.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=-1)])[name].result()
    yield name
    admin.delete_topics([name])[name].result()


def _confluent_partitions(settings, topic: str) -> list[int]:
    producer = Producer(producer_config(settings))
    partitions: dict[bytes | None, int | None] = {}
    for key in KEYS:
        producer.produce(
            topic, key=key, value=b"", on_delivery=lambda e, m: partitions.update({m.key(): m.partition()})
        )
    assert producer.flush(30) == 0
    return [p for p in (partitions[k] for k in KEYS) if p is not None]


async def _aiokafka_partitions(settings, topic: str) -> list[int]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        sent = [await producer.send(topic, key=key, value=b"") for key in KEYS]
        return [(await future).partition for future in sent]
    finally:
        await producer.stop()


def test_confluent_murmur2_random_and_aiokafka_pick_the_same_partition(settings, topic):
    confluent = _confluent_partitions(settings, topic)
    aiokafka = asyncio.run(_aiokafka_partitions(settings, topic))
    assert len(set(confluent)) == PARTITIONS, "the keys should spread over every partition"
    assert confluent == aiokafka
