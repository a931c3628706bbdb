"""The in-memory rule index of one evaluator worker, fed from the compacted crm.rule topic.

Conditions are compiled once per rule version, when the rule arrives, never per event.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from crmflow.conditions import CompiledCondition, compile_condition
from crmflow.rule_record import Rule
from crmflow.validation import DomainValidationError


@dataclass(frozen=True)
class IndexedRule:
    id: str
    practice_id: str
    name: str
    version: int
    trigger: str
    enabled: bool
    condition: CompiledCondition | None
    actions: list[dict[str, Any]]
    compile_error: str | None = None


class RulesIndex:
    """Rules by (practice, trigger event); also by id for the Test button."""

    def __init__(self) -> None:
        self._by_id: dict[str, IndexedRule] = {}
        self._by_trigger: dict[tuple[str, str], dict[str, IndexedRule]] = defaultdict(dict)

    def __len__(self) -> int:
        return len(self._by_id)

    def apply(self, rule_id: str, value: bytes | None) -> None:
        """Apply one record of the rules topic (None = tombstone: the rule was deleted); a value
        that is not a rule record raises pydantic's ValidationError (a ValueError)."""
        old = self._by_id.pop(rule_id, None)
        if old is not None:
            self._by_trigger[(old.practice_id, old.trigger)].pop(rule_id, None)
        if value is None:
            return
        rule = build_rule(Rule.model_validate_json(value))
        if old is not None and old.version > rule.version:
            rule = old  # an older version arriving late never replaces a newer one
        self._by_id[rule_id] = rule
        self._by_trigger[(rule.practice_id, rule.trigger)][rule_id] = rule

    def for_event(self, practice_id: str, event_name: str) -> list[IndexedRule]:
        rules = self._by_trigger.get((practice_id, event_name))
        return [r for r in rules.values() if r.enabled] if rules else []

    def by_id(self, rule_id: str) -> IndexedRule | None:
        return self._by_id.get(rule_id)

    def get(self, practice_id: str, rule_id: str) -> IndexedRule | None:
        rule = self._by_id.get(rule_id)
        return rule if rule is not None and rule.practice_id == practice_id else None


def build_rule(rule: Rule) -> IndexedRule:
    condition: CompiledCondition | None = None
    error: str | None = None
    try:
        condition = compile_condition(rule.conditionsJson)
    except DomainValidationError as exc:
        error = str(exc)  # each problem with its path (the first five)
    return IndexedRule(
        id=rule.id,
        practice_id=rule.practiceId,
        name=rule.name,
        version=rule.version,
        trigger=rule.triggerEvent,
        enabled=rule.enabled,
        condition=condition,
        actions=rule.actionsJson,
        compile_error=error,
    )
