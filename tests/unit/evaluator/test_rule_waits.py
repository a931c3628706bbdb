"""The Test button's event waits for the rule version it names (no Kafka: the index is fed here)."""

import asyncio
import json

import pytest

from crmflow.envelope import BadEvent, parse_event
from crmflow_evaluator.rules_index import RulesIndex
from crmflow_evaluator.rules_loader import RulesLoader


def rule(version: int) -> bytes:
    return json.dumps(
        {
            "id": "r1",
            "practiceId": "p1",
            "name": "r",
            "enabled": True,
            "version": version,
            "triggerEvent": "crm/patient.created",
            "conditionsJson": None,
            "actionsJson": [],
        }
    ).encode()


def test_waits_until_the_named_version_arrives():
    index = RulesIndex()
    loader = RulesLoader("unused:9092", index)
    index.apply("r1", rule(1))

    async def scenario() -> bool:
        asyncio.get_running_loop().call_later(0.05, index.apply, "r1", rule(2))
        return await loader.wait_for_rule("p1", "r1", 2, timeout=2)

    assert asyncio.run(scenario()) is True
    assert index.get("p1", "r1").version == 2


def test_gives_up_after_the_timeout_and_never_for_another_practice():
    index = RulesIndex()
    index.apply("r1", rule(3))
    loader = RulesLoader("unused:9092", index)
    assert asyncio.run(loader.wait_for_rule("p1", "r1", 3, timeout=0)) is True
    assert asyncio.run(loader.wait_for_rule("p2", "r1", 1, timeout=0.05)) is False


@pytest.mark.parametrize("version", [0, -1, "2", True, 1.5])
def test_a_bad_only_rule_version_is_refused(version):
    event = {
        "id": "e",
        "practiceId": "p",
        "name": "crm/patient.created",
        "entityType": "patient",
        "entityId": "x",
        "data": {},
        "onlyRuleId": "r1",
        "onlyRuleVersion": version,
    }
    with pytest.raises(BadEvent) as info:
        parse_event(json.dumps(event).encode())
    assert info.value.reason == "bad_onlyRuleVersion"
