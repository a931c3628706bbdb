"""Loads the compacted crm.rule topic into the RulesIndex and follows it.

A group-less consumer reads every partition from the beginning; ``ready`` is set once it has
caught up with the end offsets seen at start, and the agent holds events until then. Should the
consumer fail, a new one resumes where it stopped (the index stays as it is meanwhile).

``catch_up`` is the read-your-writes barrier the agent passes before each batch: the index holds
every rule record already on the topic, so a rule saved before an event was written applies to
that event (Debezium streams the WAL in commit order: the rule's record is produced first).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crmflow import topics
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
        self._consumer: AIOKafkaConsumer | None = None
        self._offsets: AIOKafkaConsumer | None = None  # end offsets for catch_up
        self._partitions_held: list[TopicPartition] = []

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
            fetch_max_wait_ms=100,
        )
        # catch_up asks for end offsets on a connection of its own: on the following consumer's,
        # a ListOffsets request waits behind the long-polling fetch (~fetch_max_wait_ms, measured
        # 87 ms a batch by make bench), which every batch would pay.
        offsets = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, **self.auth, group_id=None)
        await consumer.start()
        await offsets.start()
        self._offsets = offsets
        try:
            await self._follow(consumer)
        finally:
            self._consumer = self._offsets = None
            await offsets.stop()
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
        self._consumer, self._partitions_held = consumer, partitions
        records = 0
        while True:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, tp_records in batch.items():
                for record in tp_records:
                    self._apply(record.key, record.value)
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

    async def catch_up(self, timeout: float) -> bool:
        """Wait until every rule record now on the topic is in the index (False on timeout)."""
        consumer, offsets, partitions = self._consumer, self._offsets, self._partitions_held
        if consumer is None or offsets is None or not partitions:
            return False
        try:
            end = await offsets.end_offsets(partitions)
        except Exception as exc:  # the loop below must not stall events on a metadata hiccup
            log.warning("rules end offsets unavailable", extra={"error": type(exc).__name__})
            return False
        deadline = time.monotonic() + timeout
        while any(self._positions.get(tp, 0) < end[tp] for tp in partitions):
            if consumer is not self._consumer or time.monotonic() > deadline:
                log.warning(
                    "rules not caught up; evaluating with the index as it is",
                    extra={"timeoutSeconds": timeout},
                )
                return False
            await asyncio.sleep(0.005)
        return True

    async def wait_for_rule(self, practice_id: str, rule_id: str, version: int, timeout: float) -> bool:
        """Wait until the index holds ``version`` (or newer) of a rule the Test button saved.

        The catch-up barrier covers records already on the topic; this covers the one the event
        names, which Debezium may have produced to crm.rule just after the event itself.
        """
        deadline = time.monotonic() + timeout
        while (rule := self.index.get(practice_id, rule_id)) is None or rule.version < version:
            if time.monotonic() > deadline:
                log.warning(
                    "tested rule version not held in time", extra={"ruleId": rule_id, "version": version}
                )
                return False
            await asyncio.sleep(0.01)
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
