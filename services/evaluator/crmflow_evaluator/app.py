"""The Faust wiring: the agent that hands batches of CDC events to the EventProcessor (which
turns them into commands for the action-runner), the rules loader task, and the web pages.

At-least-once (Faust's exactly_once is unreliable): a batch's commands are published and
acknowledged by the broker before the batch's offsets are acked, so a crash re-evaluates events
and the runner's deterministic run ids make that harmless.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crmflow import topics
from crmflow.settings import Settings
from crmflow_evaluator import metrics
from crmflow_evaluator.batching import take_batches
from crmflow_evaluator.fetch_wait import bound_fetch_wait
from crmflow_evaluator.health import readiness
from crmflow_evaluator.kafka_auth import aiokafka_auth, faust_credentials
from crmflow_evaluator.partitioner import CachedPartitioner
from crmflow_evaluator.processor import EventProcessor
from crmflow_evaluator.publisher import Out
from crmflow_evaluator.rules_index import RulesIndex
from crmflow_evaluator.rules_loader import RulesLoader


def build_app(settings: Settings) -> faust.App:
    bound_fetch_wait(settings.evaluator_fetch_wait_ms)
    app = faust.App(
        "crmflow-evaluator",
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=faust_credentials(settings),
        datadir=settings.evaluator_data_dir,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=1,
        producer_partitioner=CachedPartitioner(),  # aiokafka's partitions, hashes memoised
        producer_max_request_size=topics.DLQ_MAX_BYTES,  # dead-letters hold events over 1 MiB
        # A worker that died (kill -9) holds its partitions until its session expires, and a
        # restarted worker waits that long to rejoin: 10 s, not Faust's 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        web_host="127.0.0.1",
        web_port=settings.evaluator_port,
        web_bind=settings.api_host,
        stream_buffer_maxsize=max(4096, settings.evaluator_batch_size * 4),
    )
    index = RulesIndex()
    loader = RulesLoader(settings.kafka_bootstrap, index, auth=aiokafka_auth(settings))
    events_topic = app.topic(*topics.EVENT_TOPICS, key_type=bytes, value_type=bytes)
    processor = EventProcessor(
        loader,
        max_depth=settings.max_chain_depth,
        rules_catch_up_seconds=settings.rules_catch_up_seconds,
    )

    @app.task
    async def load_rules() -> None:
        await loader.run()

    async def send(out: Out) -> Awaitable[Any]:
        # Straight to the producer (aiokafka's delivery future): Faust's Topic.send would add a
        # FutureMessage, callbacks and sensor calls per record, for nothing the evaluator uses.
        return await app.producer.send(out.topic, out.key, out.value, None, None, out.headers)

    @app.agent(events_topic, concurrency=1)
    async def evaluate(stream: faust.StreamT) -> None:
        async for batch in take_batches(
            stream, settings.evaluator_batch_size, settings.evaluator_batch_seconds
        ):
            # The batch is acked when the next one is asked for (take_events' contract):
            # process_batch returns only once the broker has every record of this one.
            await processor.process_batch([event.message for event in batch], send)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        held = [tp for tp in app.consumer.assignment() if tp.topic in topics.EVENT_TOPICS]
        ready, body = readiness(
            app, rules_loaded=loader.ready.is_set(), rules=len(index), partitions=len(held)
        )
        return web.json(body, status=200 if ready else 503)

    @app.page("/rules/{rule_id}")
    async def held_rule(web: Any, request: Any, rule_id: str) -> Any:
        """The version of a rule this worker holds (how tools see a change has arrived)."""
        rule = index.by_id(rule_id)
        if rule is None:
            return web.json({"detail": "rule not held"}, status=404)
        return web.json({"id": rule.id, "version": rule.version, "enabled": rule.enabled})

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        monitor, consumer = app.monitor, app.consumer
        assigned = [tp for tp in consumer.assignment() if tp.topic in topics.EVENT_TOPICS]
        metrics.update_consumer_lag(
            assigned,
            {tp: monitor.tp_end_offsets.get(tp) or consumer.highwater(tp) for tp in assigned},
            monitor.tp_committed_offsets,
            monitor.tp_read_offsets,
            {tp: await consumer.position(tp) for tp in assigned},
        )
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app
