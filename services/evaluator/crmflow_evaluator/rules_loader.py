"""Loads the compacted crm.rule topic into the RulesIndex and follows it.

A group-less consumer reads every partition from the beginning; ``ready`` is set once it has
caught up with the end offsets seen at start, and the agent holds events until then. Should the
consumer fail, a new one resumes where it stopped (the index stays as it is meanwhile).

Read-your-writes: every rule change is numbered per practice (header ``rulesSeq``, from
``practices.rules_seq``) and every event carries the number current when it was written, so
``wait_for_rules_seq`` holds an event until the index has every rule change saved before it.
Waiting for records already on the topic would not do: order across topics is not commit order
(a burst of rule changes can still be queued in Connect when the next event reaches Kafka).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crmflow import cdc, topics
from crmflow_evaluator.metrics import RULES_LOADED
from crmflow_evaluator.rules_index import RulesIndex

log = logging.getLogger(__name__)


class RulesLoader:
    def __init__(
        self,
        bootstrap: str,
        index: RulesIndex,
        retry_seconds: float = 1.0,
        auth: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.auth = dict(auth or {})  # aiokafka security kwargs (kafka_auth.aiokafka_auth)
        self.index = index
        self.ready = asyncio.Event()
        self.retry_seconds = retry_seconds
        self._positions: dict[TopicPartition, int] = {}  # next offset to read, per partition
        self._rules_seq: dict[str, int] = {}  # per practice: the latest rule change held
        self._waiters: set[asyncio.Future[None]] = set()  # events waiting for a rule change

    async def run(self) -> None:
        while True:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("rules consumer failed; restarting it", extra={"in": self.retry_seconds})
                await asyncio.sleep(self.retry_seconds)

    async def _run_once(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            **self.auth,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A long poll: the broker answers as soon as a rule change comes; this only bounds
            # how often an idle loader asks (100 ms: 10 fetches a second for nothing).
            fetch_max_wait_ms=500,
        )
        await consumer.start()
        try:
            await self._follow(consumer)
        finally:
            await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        started = time.monotonic()
        partitions = await self._partitions(consumer)
        consumer.assign(partitions)
        for tp in partitions:
            if tp in self._positions:
                consumer.seek(tp, self._positions[tp])
            else:
                await consumer.seek_to_beginning(tp)
        end = await consumer.end_offsets(partitions)
        records = 0
        while True:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for tp, tp_records in batch.items():
                for record in tp_records:
                    self._apply(record.key, record.value)
                    self._note_rules_seq(record.headers)
                    records += 1
                if tp_records:
                    self._positions[tp] = tp_records[-1].offset + 1
            if not self.ready.is_set():
                positions = [await consumer.position(tp) for tp in partitions]
                if all(pos >= end[tp] for pos, tp in zip(positions, partitions, strict=True)):
                    self.ready.set()
                    log.info(
                        "rules loaded",
                        extra={
                            "rules": len(self.index),
                            "records": records,
                            "seconds": round(time.monotonic() - started, 3),
                        },
                    )
            RULES_LOADED.set(len(self.index))

    def rules_seq(self, practice_id: str) -> int:
        return self._rules_seq.get(practice_id, 0)

    async def wait_for_rules_seq(self, practice_id: str, rules_seq: int, timeout: float) -> bool:
        """Wait until the index holds the practice's rule change number ``rules_seq`` (an event's
        ``rulesSeq`` header). On timeout the number counts as held from then on, so a change
        that never arrives delays one event of the practice, not every one (False then)."""
        deadline = time.monotonic() + timeout
        while self.rules_seq(practice_id) < rules_seq:
            remaining = deadline - time.monotonic()
            if remaining < 0:
                log.warning(
                    "rule changes not held in time; evaluating with the index as it is",
                    extra={"practiceId": practice_id, "rulesSeq": rules_seq, "timeoutSeconds": timeout},
                )
                self._rules_seq[practice_id] = rules_seq
                return False
            # woken when any practice's number moves (_note_rules_seq), not every few ms
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)
        return True

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **self.auth)
        await admin.start()
        try:
            (described,) = await admin.describe_topics([topics.RULES])
        finally:
            await admin.close()
        if described.get("error_code") or not described.get("partitions"):
            raise RuntimeError(f"topic {topics.RULES} does not exist: run `crmflow topics create`")
        return [TopicPartition(topics.RULES, p["partition"]) for p in described["partitions"]]

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            log.warning("rules record without key ignored")
            return
        try:
            self.index.apply(key.decode(), value)
        except (ValueError, KeyError, TypeError) as exc:
            log.error(
                "bad rules record ignored",
                extra={"ruleId": key.decode(errors="replace"), "error": str(exc)[:200]},
            )

    def _note_rules_seq(self, headers: Sequence[tuple[str, bytes]]) -> None:
        """After a record is applied: the practice's rule changes up to its number are held."""
        found = dict(headers)
        practice, number = found.get(cdc.PRACTICE_ID_HEADER), found.get(cdc.RULES_SEQ_HEADER)
        if practice is None or number is None:
            return
        try:
            seq = int(number)
        except ValueError:
            log.error("bad rulesSeq header ignored", extra={"rulesSeq": number.decode(errors="replace")})
            return
        key = practice.decode()
        if seq > self._rules_seq.get(key, 0):
            self._rules_seq[key] = seq
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
