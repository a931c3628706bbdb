"""EventProcessor without Faust or Kafka: records in, command records or dead-letters out, the rule
changes an event waits for, metrics, and a batch that is left only once the broker has it all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from prometheus_client import REGISTRY

from crmflow import deadletter, topics
from crmflow.commands import EventEvaluated, RunCommand, command_key
from crmflow_evaluator import processor as processor_module
from crmflow_evaluator.processor import EventProcessor
from crmflow_evaluator.publisher import Out
from crmflow_evaluator.rules_index import RulesIndex
from crmflow_evaluator.rules_loader import RulesLoader
from tests.unit.evaluator.test_evaluation import event, rule


@dataclass(frozen=True)
class Record:
    """What Faust's ``event.message`` carries."""

    value: bytes | None
    key: bytes | None = b"pat1"
    headers: list[tuple[str, bytes]] = field(default_factory=lambda: [("id", b"e1")])
    topic: str = topics.PATIENT
    partition: int = 2
    offset: int = 40
    timestamp: float | None = 1_700_000_000.0


def record(**changes: Any) -> Record:
    return Record(json.dumps(event(**changes)).encode())


def loaded(*rules: bytes, practice: str = "p1", rules_seq: int = 0) -> RulesLoader:
    """A loader whose index holds ``rules`` (as the loader applies crm.rule records), ready."""
    loader = RulesLoader("unused:9092", RulesIndex())
    for number, value in enumerate(rules, start=rules_seq - len(rules) + 1):
        receive(loader, value, practice, number)
    loader.ready.set()
    return loader


def receive(loader: RulesLoader, value: bytes, practice: str, rules_seq: int) -> None:
    """The loader's handling of one crm.rule record of rule r1."""
    loader._apply(b"r1", value)
    loader._note_rules_seq([("practiceId", practice.encode()), ("rulesSeq", str(rules_seq).encode())])


def processor(loader: RulesLoader, max_depth: int = 3, catch_up: float = 2.0) -> EventProcessor:
    return EventProcessor(loader, max_depth=max_depth, rules_catch_up_seconds=catch_up)


def process(proc: EventProcessor, rec: Record) -> list[Out]:
    return asyncio.run(proc.process(rec))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def commands(outs: list[Out]) -> list[dict[str, Any]]:
    assert {out.topic for out in outs} == {topics.COMMANDS}
    return [json.loads(out.value or b"") for out in outs]


def test_a_valid_event_becomes_its_marker_and_one_run_command_per_rule() -> None:
    proc = processor(loaded(rule("r1")))
    rec = record()
    outs = process(proc, rec)
    marker, run = commands(outs)
    assert {out.key for out in outs} == {command_key("p1", "pat1", "pat1")}
    assert not any(out.is_dead_letter or out.headers for out in outs)
    assert EventEvaluated.model_validate(marker).runsExpected == 1
    assert marker["source"] == {
        "topic": topics.PATIENT,
        "partition": 2,
        "offset": 40,
        "timestamp": rec.timestamp,
    }
    command = RunCommand.model_validate(run)
    assert (command.status, command.ruleId, command.event) == ("matched", "r1", event())


def test_metrics_count_the_record_its_runs_by_status_and_its_age() -> None:
    names: tuple[tuple[str, dict[str, str]], ...] = (
        ("crmflow_evaluator_events_consumed_total", {"topic": topics.PATIENT}),
        ("crmflow_evaluator_evaluations_total", {"status": "matched"}),
        ("crmflow_evaluator_evaluations_total", {"status": "skipped"}),
        ("crmflow_evaluator_event_age_seconds_count", {}),
    )
    before = [sample(name, **labels) for name, labels in names]
    skipped = rule("r2", conditions={"field": "patient.phone", "operator": "exists"})
    loader = loaded(rule("r1"))
    loader._apply(b"r2", skipped)
    process(processor(loader), record())
    assert [sample(name, **labels) - b for (name, labels), b in zip(names, before, strict=True)] == [
        1,
        1,
        1,
        1,
    ]


def test_an_event_deeper_than_the_limit_gives_blocked_runs() -> None:
    before = sample("crmflow_evaluator_evaluations_total", status="blocked")
    [_, run] = commands(process(processor(loaded(rule("r1")), max_depth=3), record(depth=4)))
    assert (run["status"], run["error"], run["actions"]) == (
        "blocked",
        "event depth 4 exceeds MAX_CHAIN_DEPTH=3",
        [],
    )
    assert sample("crmflow_evaluator_evaluations_total", status="blocked") == before + 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),  # a tombstone
        (b"{not json", "not_json"),
        (json.dumps(event(name="crm/patient.archived")).encode(), "unknown_event"),
        (json.dumps(event(depth=-1)).encode(), "bad_depth"),
    ],
)
def test_a_bad_event_is_dead_lettered_whole_with_its_reason(value: bytes | None, reason: str) -> None:
    before = sample("crmflow_evaluator_dead_lettered_total", reason=reason)
    consumed = sample("crmflow_evaluator_events_consumed_total", topic=topics.PATIENT)
    rec = Record(value, headers=[("id", b"e1"), ("x-dlq-reason", b"an earlier one")])
    [out] = process(processor(loaded(rule("r1"))), rec)
    assert (out.topic, out.key, out.value, out.is_dead_letter) == (topics.DEAD_LETTERS, b"pat1", value, True)
    headers = dict(out.headers or [])
    assert headers["id"] == b"e1"  # the original headers, but for an earlier dead-letter's
    assert headers[deadletter.REASON] == reason.encode()
    assert headers[deadletter.DETAIL]
    assert headers[deadletter.SERVICE] == b"evaluator"
    source = (
        headers[deadletter.SOURCE_TOPIC],
        headers[deadletter.SOURCE_PARTITION],
        headers[deadletter.SOURCE_OFFSET],
    )
    assert source == (topics.PATIENT.encode(), b"2", b"40")
    assert sample("crmflow_evaluator_dead_lettered_total", reason=reason) == before + 1
    assert sample("crmflow_evaluator_events_consumed_total", topic=topics.PATIENT) == consumed + 1


def test_an_event_that_fails_to_evaluate_is_dead_lettered(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(processor_module, "evaluate_event", broken)
    [out] = process(processor(loaded(rule("r1"))), record())
    assert out.is_dead_letter
    headers = dict(out.headers or [])
    assert (headers[deadletter.REASON], headers[deadletter.DETAIL]) == (
        b"evaluation_error",
        b"RuntimeError('a bug')",
    )


def test_an_event_waits_for_the_rule_changes_saved_before_it() -> None:
    loader = loaded(rule("r1", version=1), rules_seq=1)
    rec = Record(json.dumps(event()).encode(), headers=[("id", b"e1"), ("rulesSeq", b"2")])

    async def scenario() -> list[Out]:
        asyncio.get_running_loop().call_later(0.05, receive, loader, rule("r1", version=2), "p1", 2)
        return await processor(loader).process(rec)

    [_, run] = commands(asyncio.run(scenario()))
    assert run["ruleVersion"] == 2


def test_a_rule_change_that_never_comes_delays_the_event_then_it_is_evaluated() -> None:
    loader = loaded(rule("r1", version=1), rules_seq=1)
    rec = Record(json.dumps(event()).encode(), headers=[("rulesSeq", b"5")])
    [_, run] = commands(process(processor(loader, catch_up=0.05), rec))
    assert run["ruleVersion"] == 1


class Broker:
    """``send`` that queues records and acknowledges them only when ``acknowledge`` is called;
    ``refuse`` holds values the broker can never take."""

    def __init__(self, refuse: tuple[bytes, ...] = ()) -> None:
        self.refuse = refuse
        self.queued: list[tuple[Out, asyncio.Future[None]]] = []

    async def send(self, out: Out) -> Awaitable[None]:
        future = asyncio.get_running_loop().create_future()
        if out.value in self.refuse:
            future.set_exception(MessageSizeTooLargeError())
        self.queued.append((out, future))
        return future

    def acknowledge(self) -> None:
        for _, future in self.queued:
            if not future.done():
                future.set_result(None)

    def topics(self) -> list[str]:
        return [out.topic for out, future in self.queued if future.done() and not future.exception()]


def test_a_batch_is_left_only_once_the_broker_has_every_record_in_order() -> None:
    proc = processor(loaded(rule("r1")))
    broker = Broker()
    batch = [record(), Record(b"{not json"), record(id="e2")]

    async def scenario() -> bool:
        task = asyncio.create_task(proc.process_batch(batch, broker.send))
        await asyncio.sleep(0.05)
        left_early = task.done()
        broker.acknowledge()
        await asyncio.wait_for(task, 1)
        return left_early

    assert asyncio.run(scenario()) is False
    assert broker.topics() == [topics.COMMANDS] * 2 + [topics.DEAD_LETTERS] + [topics.COMMANDS] * 2


def test_a_batch_waits_until_the_rules_are_loaded() -> None:
    loader = loaded(rule("r1"))
    loader.ready.clear()
    broker = Broker()

    async def scenario() -> tuple[int, int]:
        task = asyncio.create_task(processor(loader).process_batch([record()], broker.send))
        await asyncio.sleep(0.05)
        before = len(broker.queued)
        loader.ready.set()
        await asyncio.sleep(0.05)
        broker.acknowledge()
        await asyncio.wait_for(task, 1)
        return before, len(broker.queued)

    assert asyncio.run(scenario()) == (0, 2)


def test_commands_the_broker_can_never_take_make_their_event_a_dead_letter() -> None:
    proc = processor(loaded(rule("r1")))
    good = record(id="e2")
    big = record()
    refused = tuple(out.value or b"" for out in process(proc, big))
    broker = Broker(refuse=refused)

    async def scenario() -> None:
        task = asyncio.create_task(proc.process_batch([big, good], broker.send))
        while not task.done():
            broker.acknowledge()
            await asyncio.sleep(0.01)
        await task

    asyncio.run(scenario())
    delivered = [out for out, future in broker.queued if future.done() and not future.exception()]
    reasons = [dict(out.headers or []).get(deadletter.REASON) for out in delivered]
    assert reasons.count(b"publish_failed") == 1
    assert [out.value for out in delivered if out.is_dead_letter] == [big.value]
