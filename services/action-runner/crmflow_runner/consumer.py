"""The Kafka side of the runner: poll a batch, execute it in one transaction, then commit offsets.

One consumer processes its partitions serially, so a patient's commands (one partition) run in
order. Offsets are committed only after PostgreSQL has committed the batch and the broker has
acknowledged the batch's dead letters; a crash in between redelivers commands whose runs already
exist, which the executor ignores. Rebalance callbacks run inside ``consume()``, i.e. between
batches, so a partition is never handed over in the middle of one. From a revocation until the
next assignment the instance holds no settled assignment, and ``assigned`` (its /readyz) is False.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine

from crmflow import topics
from crmflow.commands import ActionCommand, ActionCommandDict
from crmflow.deadletter import dead_letter_headers
from crmflow_runner import metrics
from crmflow_runner.delivery import Record, Undelivered, produce_all
from crmflow_runner.errors import field_errors
from crmflow_runner.executor import Executor
from crmflow_runner.retry import backoff_seconds, error_summary, is_outage, is_transient

log = logging.getLogger(__name__)
SERVICE = "action-runner"
_COMMAND = TypeAdapter(ActionCommand)
DLQ_SEND_TIMEOUT = 30.0
# The longest an idle consumer blocks in poll() before it looks at ``stop`` and its lag gauge.
IDLE_POLL_SECONDS = 0.5


class Poison(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def decode(msg: Message) -> ActionCommandDict:
    """The command of ``msg``, validated against the contract (the dict as read, not the model:
    the executor works on the plain dict, typed by the contract's TypedDicts)."""
    try:
        command = json.loads(msg.value() or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Poison("not_json", str(exc)[:200]) from None
    try:
        _COMMAND.validate_python(command)
    except ValidationError as exc:
        raise Poison("invalid_command", field_errors(exc, limit=5)) from None
    return cast(ActionCommandDict, command)


class CommandConsumer:
    def __init__(
        self,
        *,
        consumer: Consumer,
        producer: Producer,
        engine: Engine,
        executor: Executor,
        topic: str,
        batch_size: int,
        poll_seconds: float,
        max_retries: int,
        stop: threading.Event,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.engine = engine
        self.executor = executor
        self.topic = topic
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_retries = max_retries
        self.stop = stop
        self.assigned = False  # holds a settled assignment (possibly of no partition)
        self.partitions: list[int] = []

    def run(self) -> None:
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        last_lag = 0.0
        while not self.stop.is_set():
            messages = [m for m in self._poll_batch() if self._usable(m)]
            if messages:
                self.process(messages)
            if time.monotonic() - last_lag > 5:
                self._report_lag()
                last_lag = time.monotonic()

    def _poll_batch(self) -> list[Message]:
        """Block on the broker until a command comes (at most IDLE_POLL_SECONDS: an idle runner
        wakes twice a second, not every few ms), then take what has been fetched with it, up to
        the batch size, waiting at most ``poll_seconds`` for more (0: only what is already here;
        at high rates the batch is what arrived while the previous one executed)."""
        first = self.consumer.poll(IDLE_POLL_SECONDS)
        if first is None:
            return []
        if self.batch_size <= 1:
            return [first]
        return [first, *self.consumer.consume(self.batch_size - 1, self.poll_seconds)]

    def process(self, messages: Sequence[Message]) -> None:
        """Execute one polled batch, then commit its offsets (not when asked to stop first)."""
        started = time.perf_counter()
        batch: list[tuple[Message, ActionCommandDict]] = []
        dead: list[Record] = []
        for msg in messages:
            try:
                batch.append((msg, decode(msg)))
            except Poison as exc:
                dead.append(self.dead_letter(msg, exc.reason, str(exc)))
        for _, command in batch:
            metrics.COMMANDS.labels(command["kind"]).inc()
        if batch and not self._execute_batch(batch, dead):
            return  # stopping during an outage: nothing committed, all will be redelivered
        if dead and not self._send_dead_letters(dead):
            return  # stopping while the broker is away: the batch is redelivered (idempotent)
        self._commit(messages)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        _observe_latency([command for _, command in batch])

    def _execute_batch(self, batch: list[tuple[Message, ActionCommandDict]], dead: list[Record]) -> bool:
        """Run the whole batch in one transaction; on failure, one command at a time.

        Commands that still fail are added to ``dead``. Returns False only when asked to stop
        while the database is unreachable.
        """
        ok, _ = self._with_retries([command for _, command in batch])
        if ok is None:
            return False
        if not ok:
            log.warning("batch failed; executing its commands one by one", extra={"commands": len(batch)})
            for msg, command in batch:
                single, error = self._with_retries([command])
                if single is None:
                    return False
                if not single:
                    dead.append(self.dead_letter(msg, *error))
        return True

    def _with_retries(self, commands: list[ActionCommandDict]) -> tuple[bool | None, tuple[str, str]]:
        """(True, _) when committed; (False, (reason, detail)) when it failed for good;
        (None, _) when asked to stop.

        A lost database (outage) is waited out forever; other transient failures (serialization
        failure, deadlock) are retried ``max_retries`` times; anything else fails at once.
        """
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            try:
                with self.engine.begin() as conn:
                    self.executor.execute(conn, commands, attempt=attempt)
                return True, ("", "")
            except Exception as exc:
                outage, transient = is_outage(exc), is_transient(exc)
                if not transient or (attempt >= self.max_retries and not outage):
                    log.error(
                        "commands failed",
                        exc_info=not transient,
                        extra={"attempt": attempt, "commands": len(commands), "error": type(exc).__name__},
                    )
                    if transient:
                        return False, (
                            "retries_exhausted",
                            f"failed {attempt} times, last: {error_summary(exc)}",
                        )
                    return False, ("execution_failed", error_summary(exc))
                metrics.RETRIES.labels("outage" if outage else "transient").inc()
                delay = backoff_seconds(attempt, cap=5.0 if outage else 2.0)
                log.warning(
                    "transient database failure; retrying",
                    extra={
                        "attempt": attempt,
                        "in_seconds": round(delay, 3),
                        "outage": outage,
                        "error": type(exc).__name__,
                    },
                )
                self.stop.wait(delay)
        return None, ("", "")

    def dead_letter(self, msg: Message, reason: str, detail: str) -> Record:
        """The original record, with why and where from, for the dead-letter topic."""
        metrics.DEAD_LETTERED.labels(reason).inc()
        log.error(
            "command dead-lettered",
            extra={"reason": reason, "partition": msg.partition(), "offset": msg.offset()},
        )
        headers = dead_letter_headers(
            reason=reason,
            detail=detail,
            service=SERVICE,
            topic=msg.topic() or "",
            partition=msg.partition() or 0,
            offset=msg.offset() or 0,
            original=msg.headers() or [],
        )
        return Record(topics.DEAD_LETTERS, msg.key(), msg.value(), headers)

    def _send_dead_letters(self, dead: list[Record]) -> bool:
        """Deliver dead letters before the offsets move past them (broker away: wait, retry)."""
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            try:
                produce_all(self.producer, dead, DLQ_SEND_TIMEOUT)
                return True
            except Undelivered as exc:
                metrics.RETRIES.labels("broker").inc()
                log.warning("dead letters not delivered; retrying", extra={"error": str(exc)})
                self.stop.wait(backoff_seconds(attempt, cap=5.0))
        return False

    def _commit(self, messages: Sequence[Message]) -> None:
        highest: dict[tuple[str, int], int] = {}
        for m in messages:
            key = (m.topic() or "", m.partition() or 0)
            highest[key] = max(highest.get(key, -1), m.offset() or 0)
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in highest.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except Exception as exc:  # e.g. rebalanced away: the new owner's redelivery is harmless
            log.warning("offset commit failed", extra={"error": str(exc)[:200]})

    def _usable(self, msg: Message) -> bool:
        err = msg.error()
        if err is None:
            return True
        if err.fatal():  # e.g. fenced by another instance with the same group.instance.id
            raise KafkaException(err)
        if err.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error", extra={"error": err.str()})
        return False

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.partitions = sorted(p.partition for p in partitions)
        self.assigned = True
        log.info("partitions assigned", extra={"partitions": self.partitions})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Also called when the assignment was lost (no ``on_lost`` given): a rebalance follows."""
        self.assigned = False
        self.partitions = []
        log.info("partitions revoked", extra={"partitions": [p.partition for p in partitions]})

    def _report_lag(self) -> None:
        try:
            assignment = self.consumer.assignment()
            for tp in self.consumer.position(assignment):
                _, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if tp.offset >= 0 and high >= 0:
                    metrics.CONSUMER_LAG.labels(str(tp.partition)).set(max(0, high - tp.offset))
        except Exception:  # metrics never break consumption
            log.debug("lag report failed", exc_info=True)


def _observe_latency(commands: Sequence[ActionCommandDict]) -> None:
    now = time.time()
    for c in commands:
        if c["kind"] != "run":
            continue
        event = c.get("event")
        if event and isinstance(event.get("occurredAt"), str):
            try:
                occurred = datetime.fromisoformat(event["occurredAt"]).timestamp()
            except ValueError:
                continue
            metrics.END_TO_END_SECONDS.observe(max(0.0, now - occurred))
