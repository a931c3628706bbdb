"""The rules index reads crm.rule values as the one rule record (crmflow.rule_record.Rule)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from crmflow_evaluator.rules_index import RulesIndex
from tests.support.rules import rule_record


def test_a_rule_record_is_indexed_by_practice_and_trigger() -> None:
    index = RulesIndex()
    index.apply("r1", json.dumps(rule_record(id="r1", practiceId="p1", version=3)).encode())
    [indexed] = index.for_event("p1", "crm/patient.created")
    assert (indexed.id, indexed.version, indexed.condition is not None) == ("r1", 3, True)


def test_a_value_that_is_not_a_rule_record_is_refused() -> None:
    index = RulesIndex()
    record = rule_record()
    del record["triggerEvent"]
    with pytest.raises(ValidationError, match="triggerEvent"):
        index.apply("r1", json.dumps(record).encode())
    assert issubclass(ValidationError, ValueError)  # what the rules loader catches, logs and skips
    assert len(index) == 0
