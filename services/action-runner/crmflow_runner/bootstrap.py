"""Wires the runner's adapters from settings; tests call it too."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Producer

from crmflow import topics
from crmflow.db.engine import make_engine
from crmflow.kafka import consumer_config, producer_config
from crmflow.settings import Settings
from crmflow_runner.bulk_worker import BulkWorker
from crmflow_runner.consumer import CommandConsumer
from crmflow_runner.executor import Executor
from crmflow_runner.handlers import build_handlers
from crmflow_runner.scheduler import Scheduler
from crmflow_runner.sending.queue import DeliveryWorker
from crmflow_runner.sending.registry import build_senders
from crmflow_runner.sends import Sends

GROUP_ID = "crmflow-action-runner"
# A member that stops heartbeating loses its partitions after this long (librdkafka: 45 s).
SESSION_TIMEOUT_MS = 10_000


@dataclass
class Runner:
    consumer: CommandConsumer
    scheduler: Scheduler
    stop: threading.Event
    bulk: BulkWorker
    deliveries: DeliveryWorker


def runner_consumer_config(
    settings: Settings, *, group_id: str = GROUP_ID, instance_id: str | None = None
) -> dict[str, Any]:
    """Static group membership: a runner restarted under the same identity (default: host + HTTP
    port, unique per instance) gets its partitions back at once instead of after a rebalance."""
    return {
        **consumer_config(settings, group_id),
        "group.instance.id": instance_id or f"{socket.gethostname()}:{settings.runner_port}",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": 2_000,
    }


def bootstrap(
    settings: Settings,
    *,
    topic: str = topics.COMMANDS,
    group_id: str = GROUP_ID,
    instance_id: str | None = None,
) -> Runner:
    stop = threading.Event()
    engine = make_engine(settings, pool_size=3)
    executor = Executor(
        build_handlers(settings.patient_field_allowlist), Sends(max_attempts=settings.delivery_max_attempts)
    )
    consumer = CommandConsumer(
        consumer=Consumer(runner_consumer_config(settings, group_id=group_id, instance_id=instance_id)),
        producer=Producer(producer_config(settings)),
        engine=engine,
        executor=executor,
        topic=topic,
        batch_size=settings.runner_batch_size,
        poll_seconds=settings.runner_poll_seconds,
        max_retries=settings.max_retries,
        stop=stop,
    )
    scheduler = Scheduler(
        engine,
        Producer(producer_config(settings)),
        stop,
        topic=topic,
        interval=settings.scheduler_interval_seconds,
        signal_retention=settings.wait_signal_retention_seconds,
    )
    bulk = BulkWorker(engine, stop, interval=settings.scheduler_interval_seconds)
    deliveries = DeliveryWorker(
        # its own pool: a worker holds its connection (and the claimed row's lock) while it sends
        make_engine(settings, pool_size=settings.delivery_threads),
        build_senders(settings),
        Producer(producer_config(settings)),
        stop,
        threads=settings.delivery_threads,
        poll_seconds=settings.delivery_poll_seconds,
        backoff_base=settings.delivery_backoff_seconds,
        backoff_cap=settings.delivery_backoff_max_seconds,
        commands_topic=topic,
    )
    return Runner(consumer, scheduler, stop, bulk, deliveries)
