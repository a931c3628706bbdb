"""confluent-kafka configuration and topic administration, from settings."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from crmflow.settings import Settings
from crmflow.topics import TOPICS

log = logging.getLogger(__name__)


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        # Same partition as aiokafka/Faust (murmur2) for the same key bytes.
        "partitioner": "murmur2_random",
    }


def consumer_config(settings: Settings, group_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "max.poll.interval.ms": 600_000,
        "fetch.wait.max.ms": 20,
    }


def create_topics(settings: Settings) -> list[str]:
    """Create every crmflow topic that does not exist yet; returns the names created."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    existing = set(admin.list_topics(timeout=15).topics)
    new = [
        NewTopic(
            t.name,
            num_partitions=t.partitions or settings.topic_partitions,
            replication_factor=-1,
            config=t.config,
        )
        for t in TOPICS
        if t.name not in existing
    ]
    if not new:
        return []
    for future in admin.create_topics(new, request_timeout=15).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: another process won the race
                raise
    return [t.topic for t in new]
