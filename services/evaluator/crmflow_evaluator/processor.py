"""What the evaluator does with a batch of event records, without Faust (app.py feeds it).

Per record: parse the envelope, hold it until the index has its practice's rule changes saved
before it (header ``rulesSeq``), evaluate it, and turn the outcome into command records; a record
that cannot be read or evaluated becomes its dead-letter instead. Per batch: every record's output
is acknowledged by the broker before ``process_batch`` returns, so the caller may then ack the
batch's offsets (at-least-once; the runner's deterministic run ids make a re-evaluation harmless).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from crmflow import topics
from crmflow.deadletter import dead_letter_headers
from crmflow.envelope import BadEvent, parse_event
from crmflow_evaluator import metrics
from crmflow_evaluator.evaluation import evaluate_event
from crmflow_evaluator.publisher import Out, Send, publish_batch
from crmflow_evaluator.records import Headers, encode_command, header_ids, header_rules_seq
from crmflow_evaluator.rules_index import RulesIndex
from crmflow_evaluator.rules_loader import RulesLoader

log = logging.getLogger(__name__)
SERVICE = "evaluator"


class EventRecord(Protocol):
    """A consumed event record (what Faust's ``event.message`` has)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> float | None: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Headers: ...


class EventProcessor:
    def __init__(self, loader: RulesLoader, *, max_depth: int, rules_catch_up_seconds: float) -> None:
        self.loader = loader
        self.index: RulesIndex = loader.index
        self.max_depth = max_depth
        self.rules_catch_up_seconds = rules_catch_up_seconds

    async def process_batch(self, records: Sequence[EventRecord], send: Send) -> None:
        """Evaluate the records in order and publish their output; return once the broker has it
        all (``publish_batch`` retries transient failures). Waits for the rules to be loaded."""
        await self.loader.ready.wait()
        started = time.perf_counter()
        pending = [(record, await self.process(record)) for record in records]
        await publish_batch(pending, send, self.dead_letter)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    async def process(self, record: EventRecord) -> list[Out]:
        """One record's output: its commands (the marker first), or its dead-letter."""
        metrics.EVENTS_CONSUMED.labels(record.topic).inc()
        try:
            event = parse_event(record.value)  # a tombstone is dead-lettered as empty
            rules_seq = header_rules_seq(record.headers)
            if rules_seq and self.loader.rules_seq(event["practiceId"]) < rules_seq:
                await self._hold_for_rule_changes(event["practiceId"], rules_seq)
            return self._evaluate(record, event)
        except BadEvent as error:
            return [self.dead_letter(record, error.reason, error.detail)]
        except Exception as exc:  # never crash the worker on one event
            log.exception("event could not be evaluated", extra=header_ids(record.headers))
            return [self.dead_letter(record, "evaluation_error", repr(exc))]

    async def _hold_for_rule_changes(self, practice_id: str, rules_seq: int) -> None:
        if self.loader.rules_seq(practice_id) < rules_seq:  # rule changes in flight
            await self.loader.wait_for_rules_seq(practice_id, rules_seq, self.rules_catch_up_seconds)

    def _evaluate(self, record: EventRecord, event: dict[str, Any]) -> list[Out]:
        raw = record.value or b""
        outcome = evaluate_event(
            event,
            self.index,
            max_depth=self.max_depth,
            source={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "timestamp": record.timestamp,
            },
        )
        outs = []
        runs = 0
        for message in outcome.messages:
            if message["kind"] == "run":
                runs += 1
                metrics.EVALUATIONS.labels(message["status"]).inc()
            outs.append(Out(topics.COMMANDS, outcome.key, encode_command(message, raw)))
        if record.timestamp:
            metrics.EVENT_AGE_SECONDS.observe(max(0.0, time.time() - record.timestamp))
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "event evaluated",
                extra={
                    "eventId": event["id"],
                    "eventName": event["name"],
                    "practiceId": event["practiceId"],
                    "correlationId": event.get("correlationId"),
                    "causationId": event.get("causationId"),
                    "depth": event.get("depth", 0),
                    "runs": runs,  # not the marker, re-plans or cancellations
                },
            )
        return outs

    def dead_letter(self, record: EventRecord, reason: str, detail: str) -> Out:
        """The record as it came (key, value, headers) on the dead-letter topic, with why."""
        metrics.DEAD_LETTERED.labels(reason).inc()
        log.warning(
            "event dead-lettered",
            extra={
                "reason": reason,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                **header_ids(record.headers),
            },
        )
        headers = dead_letter_headers(
            reason=reason,
            detail=detail,
            service=SERVICE,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            original=record.headers,
        )
        return Out(topics.DEAD_LETTERS, record.key, record.value, headers, is_dead_letter=True)
