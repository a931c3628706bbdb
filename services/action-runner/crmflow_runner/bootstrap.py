"""Wires the runner's adapters from settings; tests call it too."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from confluent_kafka import Consumer, Producer

from crmflow.db.engine import make_engine
from crmflow.kafka import consumer_config, producer_config
from crmflow.settings import Settings
from crmflow_runner.consumer import CommandConsumer
from crmflow_runner.executor import Executor
from crmflow_runner.handlers import build_handlers
from crmflow_runner.scheduler import Scheduler

GROUP_ID = "crmflow-action-runner"


@dataclass
class Runner:
    consumer: CommandConsumer
    scheduler: Scheduler
    stop: threading.Event


def bootstrap(settings: Settings) -> Runner:
    stop = threading.Event()
    engine = make_engine(settings, pool_size=3)
    executor = Executor(build_handlers(settings.patient_field_allowlist))
    consumer = CommandConsumer(
        consumer=Consumer(consumer_config(settings, GROUP_ID)),
        producer=Producer(producer_config(settings)),
        engine=engine,
        executor=executor,
        batch_size=settings.runner_batch_size,
        poll_seconds=settings.runner_poll_seconds,
        max_retries=settings.max_retries,
        stop=stop,
    )
    scheduler = Scheduler(engine, executor, settings.scheduler_interval_seconds, stop)
    return Runner(consumer, scheduler, stop)
