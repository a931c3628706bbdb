"""The Faust app: the agent that turns CDC events into commands for the action-runner.

At-least-once (Faust's exactly_once is unreliable): a batch's commands are published and
acknowledged by the broker before the batch's offsets are acked, so a crash re-evaluates events
and the runner's deterministic run ids make that harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Any

import faust
from faust.types import EventT
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crmflow import topics
from crmflow.deadletter import dead_letter_headers
from crmflow.envelope import BadEvent, parse_event
from crmflow.settings import Settings
from crmflow_evaluator import metrics
from crmflow_evaluator.evaluation import evaluate_event
from crmflow_evaluator.health import readiness
from crmflow_evaluator.kafka_auth import aiokafka_auth, faust_credentials
from crmflow_evaluator.publisher import Out, publish_batch
from crmflow_evaluator.records import encode_command, header_ids, header_rules_seq
from crmflow_evaluator.rules_index import RulesIndex
from crmflow_evaluator.rules_loader import RulesLoader

log = logging.getLogger(__name__)
SERVICE = "evaluator"


def build_app(settings: Settings, *, data_dir: str) -> faust.App:
    app = faust.App(
        "crmflow-evaluator",
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=faust_credentials(settings),
        datadir=data_dir,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=1,
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
    commands_topic = app.topic(topics.COMMANDS, key_type=bytes, value_type=bytes)
    dlq_topic = app.topic(topics.DEAD_LETTERS, key_type=bytes, value_type=bytes)

    @app.task
    async def load_rules() -> None:
        await loader.run()

    def dead_letter(event: EventT, reason: str, detail: str) -> Out:
        msg = event.message
        metrics.DEAD_LETTERED.labels(reason).inc()
        log.warning(
            "event dead-lettered",
            extra={
                "reason": reason,
                "topic": msg.topic,
                "partition": msg.partition,
                "offset": msg.offset,
                **header_ids(msg.headers),
            },
        )
        headers = dead_letter_headers(
            reason=reason,
            detail=detail,
            service=SERVICE,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            original=msg.headers,
        )
        return Out(dlq_topic, msg.key, msg.value, headers, is_dead_letter=True)

    def parse(event: EventT) -> dict[str, Any] | Out:
        """The event's envelope, or its dead letter."""
        metrics.EVENTS_CONSUMED.labels(event.message.topic).inc()
        try:
            return parse_event(event.message.value or b"")  # a tombstone is dead-lettered as empty
        except BadEvent as error:
            return dead_letter(event, error.reason, error.detail)

    def handle(event: EventT, parsed: dict[str, Any]) -> list[Out]:
        msg = event.message
        raw: bytes = msg.value or b""
        outcome = evaluate_event(
            parsed,
            index,
            max_depth=settings.max_chain_depth,
            source={
                "topic": msg.topic,
                "partition": msg.partition,
                "offset": msg.offset,
                "timestamp": msg.timestamp,
            },
        )
        outs = []
        for message in outcome.messages:
            if message["kind"] == "run":
                metrics.EVALUATIONS.labels(message["status"]).inc()
            outs.append(Out(commands_topic, outcome.key, encode_command(message, raw)))
        if msg.timestamp:
            metrics.EVENT_AGE_SECONDS.observe(max(0.0, time.time() - msg.timestamp))
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "event evaluated",
                extra={
                    "eventId": parsed["id"],
                    "eventName": parsed["name"],
                    "practiceId": parsed["practiceId"],
                    "correlationId": parsed.get("correlationId"),
                    "causationId": parsed.get("causationId"),
                    "depth": parsed.get("depth", 0),
                    "runs": len(outcome.messages) - 1,
                },
            )
        return outs

    async def send(out: Out) -> Awaitable[Any]:
        return await out.topic.send(key=out.key, value=out.value, headers=out.headers, force=True)

    @app.agent(events_topic, concurrency=1)
    async def evaluate(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(  # type: ignore[attr-defined]
            settings.evaluator_batch_size, within=settings.evaluator_batch_seconds
        ):
            await loader.ready.wait()
            started = time.perf_counter()
            pending: list[tuple[EventT, list[Out]]] = []
            for event in batch:
                try:
                    parsed = parse(event)
                    if isinstance(parsed, Out):
                        pending.append((event, [parsed]))
                        continue
                    rules_seq = header_rules_seq(event.message.headers)
                    if loader.rules_seq(parsed["practiceId"]) < rules_seq:  # rule changes in flight
                        await loader.wait_for_rules_seq(
                            parsed["practiceId"], rules_seq, settings.rules_catch_up_seconds
                        )
                    pending.append((event, handle(event, parsed)))
                except Exception as exc:  # never crash the worker on one event
                    log.exception("event could not be evaluated", extra=header_ids(event.message.headers))
                    pending.append((event, [dead_letter(event, "evaluation_error", repr(exc))]))
            # The batch is acked when the next one is asked for: the broker must have it all first.
            await publish_batch(pending, send, dead_letter)
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

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
