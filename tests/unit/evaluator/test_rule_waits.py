"""An event waits until the evaluator holds its practice's rule changes saved before it (the
rulesSeq header); no Kafka here: the loader's record handling is fed directly."""

import asyncio
import json

from crmflow_evaluator.rules_index import RulesIndex
from crmflow_evaluator.rules_loader import RulesLoader
from tests.support.rules import rule_record


def rule(version: int, practice: str = "p1") -> bytes:
    return json.dumps(rule_record(id="r1", practiceId=practice, version=version)).encode()


def headers(practice: str, seq: int) -> list[tuple[str, bytes]]:
    return [("practiceId", practice.encode()), ("rulesSeq", str(seq).encode())]


def receive(loader: RulesLoader, value: bytes | None, practice: str, seq: int) -> None:
    """What the loader does with one crm.rule record."""
    loader._apply(b"r1", value)
    loader._note_rules_seq(headers(practice, seq))


def test_an_event_waits_for_the_rule_change_saved_before_it():
    loader = RulesLoader("unused:9092", RulesIndex())
    receive(loader, rule(1), "p1", 1)

    async def scenario() -> bool:
        asyncio.get_running_loop().call_later(0.05, receive, loader, rule(2), "p1", 2)
        return await loader.wait_for_rules_seq("p1", 2, timeout=2)

    assert asyncio.run(scenario()) is True
    assert loader.index.get("p1", "r1").version == 2  # the change is applied when the wait ends


def test_deletions_count_and_numbers_never_go_back():
    loader = RulesLoader("unused:9092", RulesIndex())
    receive(loader, rule(1), "p1", 4)
    receive(loader, None, "p1", 5)  # a tombstone carries its number too
    assert loader.index.get("p1", "r1") is None and loader.rules_seq("p1") == 5
    loader._note_rules_seq(headers("p1", 3))  # an older record (a reload) changes nothing
    assert loader.rules_seq("p1") == 5
    loader._note_rules_seq([("practiceId", b"p1"), ("rulesSeq", b"?")])  # unreadable: ignored
    loader._note_rules_seq([("rulesSeq", b"9")])  # no practice: ignored
    assert loader.rules_seq("p1") == 5


def test_practices_are_apart_and_a_change_that_never_comes_delays_one_event():
    loader = RulesLoader("unused:9092", RulesIndex())
    receive(loader, rule(1, "p2"), "p2", 7)
    assert loader.rules_seq("p1") == 0
    assert asyncio.run(loader.wait_for_rules_seq("p2", 7, timeout=0)) is True
    assert asyncio.run(loader.wait_for_rules_seq("p1", 1, timeout=0.05)) is False
    # given up on: the next event of p1 with that number does not wait again
    assert asyncio.run(loader.wait_for_rules_seq("p1", 1, timeout=0)) is True
