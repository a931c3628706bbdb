"""The rule record has one definition (crmflow.rule_record.Rule): the repository maps exactly its
fields to columns (the evaluator's side: tests/unit/evaluator/test_rules_index.py)."""

from __future__ import annotations

from crmflow.db.tables import automation_rules
from crmflow.rule_record import Rule
from crmflow.rules_repo import RULE_FIELDS


def test_the_repository_maps_every_field_of_the_record_to_a_column() -> None:
    assert list(RULE_FIELDS) == list(Rule.model_fields)
    assert set(RULE_FIELDS.values()) <= set(automation_rules.c.keys())
