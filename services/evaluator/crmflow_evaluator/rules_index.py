"""The in-memory rule index of one evaluator worker, fed from the compacted crm.rule topic.

Conditions are compiled once per rule version, when the rule arrives, never per event. Besides
the rules by trigger, it knows which rules an event may re-plan (a ``delay_until`` following a
field of the event's entity type) or cancel (a ``cancelOn`` entry naming the event), and which
rules await it (a ``wait_for_event`` naming the event).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from crmflow.actions import DELAY_UNTIL
from crmflow.conditions import CompiledCondition, compile_condition
from crmflow.conditions.paths import split_path
from crmflow.due_time import bound_field
from crmflow.enrollment import Reenroll, policy
from crmflow.rule_record import Rule
from crmflow.triggers import TRIGGERS
from crmflow.validation import DomainValidationError
from crmflow.wait_for_event import WAIT_FOR_EVENT


@dataclass(frozen=True)
class CancelEntry:
    """Entry ``index`` of a rule's cancelOn, its condition compiled (None: it cannot compile)."""

    index: int
    event_name: str
    match: tuple[str, ...]  # the dotted path, split once here rather than per event
    condition: CompiledCondition | None


@dataclass(frozen=True)
class WaitEntry:
    """A ``wait_for_event`` of a rule: its action index, awaited event, match path (split) and
    condition compiled (None: it cannot compile, and never matches)."""

    index: int
    event_name: str
    match: tuple[str, ...]
    condition: CompiledCondition | None


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
    cancel_on: tuple[CancelEntry, ...] = ()
    followed_fields: tuple[str, ...] = ()
    """Fields of the trigger's entity its ``delay_until`` actions follow (``startsAt``)."""
    entity_type: str | None = None  # the trigger's entity type
    waits: tuple[WaitEntry, ...] = ()
    enrollment_path: tuple[str, ...] | None = None  # the policy's key, split; None: the patient
    reenroll: Reenroll = Reenroll.ALWAYS
    paused: str | None = None  # crmflow.pause.Pause, or None


class RulesIndex:
    """Rules by (practice, trigger event); also by id for the Test button, by (practice, cancelOn
    event) and by (practice, entity type whose fields their delays follow)."""

    def __init__(self) -> None:
        self._by_id: dict[str, IndexedRule] = {}
        self._by_trigger: dict[tuple[str, str], dict[str, IndexedRule]] = defaultdict(dict)
        self._by_cancel_event: dict[tuple[str, str], dict[str, IndexedRule]] = defaultdict(dict)
        self._by_followed_entity: dict[tuple[str, str], dict[str, IndexedRule]] = defaultdict(dict)
        self._by_wait_event: dict[tuple[str, str], dict[str, IndexedRule]] = defaultdict(dict)

    def _secondary(self, rule: IndexedRule) -> list[dict[str, IndexedRule]]:
        maps = [self._by_cancel_event[(rule.practice_id, e)] for e in {c.event_name for c in rule.cancel_on}]
        if rule.followed_fields and rule.entity_type is not None:
            maps.append(self._by_followed_entity[(rule.practice_id, rule.entity_type)])
        maps += [self._by_wait_event[(rule.practice_id, e)] for e in {w.event_name for w in rule.waits}]
        return maps

    def __len__(self) -> int:
        return len(self._by_id)

    def apply(self, rule_id: str, value: bytes | None) -> None:
        """Apply one record of the rules topic (None = tombstone: the rule was deleted); a value
        that is not a rule record raises pydantic's ValidationError (a ValueError)."""
        old = self._by_id.pop(rule_id, None)
        if old is not None:
            self._by_trigger[(old.practice_id, old.trigger)].pop(rule_id, None)
            for by_key in self._secondary(old):
                by_key.pop(rule_id, None)
        if value is None:
            return
        rule = build_rule(Rule.model_validate_json(value))
        if old is not None and old.version > rule.version:
            rule = old  # an older version arriving late never replaces a newer one
        self._by_id[rule_id] = rule
        self._by_trigger[(rule.practice_id, rule.trigger)][rule_id] = rule
        for by_key in self._secondary(rule):
            by_key[rule_id] = rule

    def for_event(self, practice_id: str, event_name: str) -> list[IndexedRule]:
        rules = self._by_trigger.get((practice_id, event_name))
        return [r for r in rules.values() if r.enabled] if rules else []

    def cancelled_by(self, practice_id: str, event_name: str) -> list[IndexedRule]:
        """Rules (also disabled ones: their waiting runs still resume) with a cancelOn entry for
        ``event_name``."""
        rules = self._by_cancel_event.get((practice_id, event_name))
        return list(rules.values()) if rules else []

    def awaiting(self, practice_id: str, event_name: str) -> list[IndexedRule]:
        """Rules (also disabled ones: their waiting runs still resume) with a wait_for_event for
        ``event_name``."""
        rules = self._by_wait_event.get((practice_id, event_name))
        return list(rules.values()) if rules else []

    def following(self, practice_id: str, entity_type: str) -> list[IndexedRule]:
        """Rules whose delay_until follows a field of an entity of ``entity_type``."""
        rules = self._by_followed_entity.get((practice_id, entity_type))
        return list(rules.values()) if rules else []

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
    trigger = TRIGGERS.get(rule.triggerEvent)
    entity_type = trigger.entity_type if trigger is not None else None
    enrollment_path, reenroll = policy(rule.enrollment)
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
        cancel_on=tuple(_cancel_entries(rule.cancelOn or [])),
        followed_fields=_followed_fields(rule.actionsJson, entity_type),
        entity_type=entity_type,
        waits=tuple(_wait_entries(rule.actionsJson)),
        enrollment_path=enrollment_path,
        reenroll=reenroll,
        paused=rule.paused,
    )


def _wait_entries(actions: list[dict[str, Any]]) -> list[WaitEntry]:
    entries = []
    for index, action in enumerate(actions):
        if not isinstance(action, dict) or action.get("type") != WAIT_FOR_EVENT:
            continue
        raw = action.get("args")
        args: dict[str, Any] = raw if isinstance(raw, dict) else {}
        try:
            condition: CompiledCondition | None = compile_condition(args.get("conditionsJson"))
        except DomainValidationError:
            condition = None  # the rules-api refuses these; a wait that cannot compile never matches
        match = split_path(str(args.get("match")))
        entries.append(WaitEntry(index, str(args.get("eventName")), match, condition))
    return entries


def _cancel_entries(cancel_on: list[dict[str, Any]]) -> list[CancelEntry]:
    entries = []
    for index, entry in enumerate(cancel_on):
        try:
            condition: CompiledCondition | None = compile_condition(entry.get("conditionsJson"))
        except DomainValidationError:
            condition = None  # the rules-api refuses these; an entry that cannot compile never cancels
        match = split_path(str(entry.get("match")))
        entries.append(CancelEntry(index, str(entry.get("eventName")), match, condition))
    return entries


def _followed_fields(actions: list[dict[str, Any]], entity_type: str | None) -> tuple[str, ...]:
    if entity_type is None:
        return ()
    fields = {
        bound_field((action.get("args") or {}).get("at"), entity_type)
        for action in actions
        if isinstance(action, dict) and action.get("type") == DELAY_UNTIL
    }
    return tuple(sorted(f for f in fields if f is not None))
