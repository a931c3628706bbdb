"""confluent-kafka configuration and topic administration, from settings."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from crmflow.settings import Settings
from crmflow.topics import DLQ_MAX_BYTES, TOPICS, TopicSpec

# librdkafka's own messages go through Python logging (JSON lines), not straight to stderr.
_LIBRDKAFKA_LOG = logging.getLogger("librdkafka")


def client_config(settings: Settings) -> dict[str, Any]:
    """What every librdkafka client of crmflow shares: brokers, security, logging."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "security.protocol": settings.kafka_security_protocol,
        "logger": _LIBRDKAFKA_LOG,
    }
    if settings.kafka_security_protocol.startswith("SASL"):
        config |= {
            "sasl.mechanism": settings.kafka_sasl_mechanism,
            "sasl.username": settings.kafka_sasl_username,
            "sasl.password": settings.kafka_sasl_password,
        }
    if settings.kafka_ssl_ca_location and settings.kafka_security_protocol.endswith("SSL"):
        config["ssl.ca.location"] = settings.kafka_ssl_ca_location
    return config


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        **client_config(settings),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        # Same partition as aiokafka/Faust (murmur2) for the same key bytes.
        "partitioner": "murmur2_random",
        "message.max.bytes": DLQ_MAX_BYTES,
    }


def consumer_config(settings: Settings, group_id: str) -> dict[str, Any]:
    return {
        **client_config(settings),
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "max.poll.interval.ms": 600_000,
        # A long poll: the broker answers a fetch as soon as a record comes (fetch.min.bytes 1),
        # so this bounds only how often an idle consumer asks (20 ms cost Kafka ~5% of a core idle).
        "fetch.wait.max.ms": 500,
    }


def create_topics(settings: Settings) -> list[str]:
    """Create every crmflow topic that does not exist yet, and bring the configs of existing ones
    up to date (e.g. a raised max.message.bytes); returns the names created."""
    admin = AdminClient(client_config(settings))
    existing = set(admin.list_topics(timeout=15).topics)
    _update_configs(admin, [t for t in TOPICS if t.name in existing and t.config])
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
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # another process won the race
                raise
    return [t.topic for t in new]


def _update_configs(admin: AdminClient, specs: list[TopicSpec]) -> None:
    resources = [
        ConfigResource(
            ConfigResource.Type.TOPIC,
            t.name,
            incremental_configs=[
                ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in t.config.items()
            ],
        )
        for t in specs
    ]
    if resources:
        for future in admin.incremental_alter_configs(resources, request_timeout=15).values():
            future.result()
