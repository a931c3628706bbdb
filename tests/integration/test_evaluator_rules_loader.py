"""The evaluator's rules loader on the real crm.rule topic: loads it from the start, follows
changes, and after its consumer fails resumes where it stopped instead of starting over."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from confluent_kafka import Producer

from crmflow import topics
from crmflow.kafka import producer_config
from crmflow_evaluator.rules_index import RulesIndex
from crmflow_evaluator.rules_loader import RulesLoader
from tests.support.rules import rule_record

pytestmark = pytest.mark.integration


def _rule(practice_id: str, version: int = 1) -> dict:
    return rule_record(id=str(uuid.uuid4()), practiceId=practice_id, name="loader test", version=version)


def _publish(settings, *rules: dict) -> None:
    producer = Producer(producer_config(settings))
    for rule in rules:
        producer.produce(topics.RULES, key=rule["id"].encode(), value=json.dumps(rule).encode())
    assert producer.flush(15) == 0


async def _until(predicate, timeout: float = 10) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "timed out"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def test_loads_from_the_start_follows_changes_and_resumes_after_a_failure(stack, settings):
    practice = str(uuid.uuid4())
    existing = _rule(practice)
    _publish(settings, existing)

    async def scenario() -> None:
        index = RulesIndex()
        loader = RulesLoader(settings.kafka_bootstrap, index, retry_seconds=0.1)
        task = asyncio.create_task(loader.run())
        try:
            await asyncio.wait_for(loader.ready.wait(), 30)
            assert index.get(practice, existing["id"]) is not None, "loaded before ready"

            later = _rule(practice)
            _publish(settings, later)
            print(f"a new rule reached the index in {await _until(lambda: index.by_id(later['id'])):.3f} s")

            # The consumer fails on the next record; the restarted one must not re-read the topic.
            applied: list[bytes] = []
            real_apply, failed = loader._apply, list[bytes]()

            def flaky(key, value):
                if not failed:
                    failed.append(key)
                    raise RuntimeError("consumer failure")
                applied.append(key)
                real_apply(key, value)

            loader._apply = flaky
            third = _rule(practice)
            _publish(settings, third)
            await _until(lambda: index.by_id(third["id"]) is not None)
            assert failed == [third["id"].encode()]
            assert applied == [third["id"].encode()], "resumed at the failed record, not the start"
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
