"""``wait_for_event`` and the per-action ``when`` condition (SPEC section 13), the pure part.

A run reaching ``wait_for_event`` waits until an event named ``eventName`` arrives whose value at
the dotted path ``match`` equals the triggering event's and whose data satisfies
``conditionsJson``, or until ``timeoutSeconds`` pass. Both sides reduce an event to a *wait key*
(:func:`wait_key`: the action's index and the JSON of the value at ``match``), so the runner finds
the runs an event resumes, and the events a run may take, by an indexed key.

An awaited event counts when it occurred after the triggering event (``occurredAt``, the database
clock when the event row was written: :func:`occurred_after`), even if it reaches the runner
before the run reaches the wait: the runner records each awaited event as a *signal* and a run
reaching the wait first looks for one (no lost race; docs/rules.md).

Later actions see the awaited event as ``waitedEvent`` (:func:`waited_event`): in placeholders
(``{waitedEvent.data.appointment.id}``) and in an action's ``when`` condition, which is evaluated
against the event context plus ``waitedEvent`` (:func:`when_holds`); absent after a timeout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final, Literal

from crmflow.conditions import CompiledCondition, compile_condition, validate_condition
from crmflow.conditions.paths import MISSING, lookup, path_error, split_path
from crmflow.timezones import parse_aware
from crmflow.triggers import TRIGGER_NAMES, get_trigger, placeholder_can_resolve
from crmflow.validation import FieldError

WAIT_FOR_EVENT: Final = "wait_for_event"
WAITED_EVENT: Final = "waitedEvent"
"""The context key later actions find the awaited event under."""
WAITED_EVENT_FIELDS: Final = ("id", "name", "occurredAt", "entityType", "entityId", "data")
"""The shape of ``waitedEvent``: the awaited event's envelope fields, its ``data`` whole."""
TIMED_OUT: Final = "wait_timed_out"
"""The reason the actions after a timed-out wait with ``onTimeout: stop`` are logged skipped."""
WHEN_FALSE: Final = "when_false"
"""The reason an action whose ``when`` is false is logged skipped."""

OnTimeout = Literal["continue", "stop"]


def match_value(data: Any, match: str | tuple[str, ...]) -> Any:
    """The value at ``match`` in an event's ``data`` (None when missing: nothing to wait for)."""
    value = lookup(data, split_path(match) if isinstance(match, str) else match)
    return None if value is MISSING else value


def wait_key(action_index: int, value: Any) -> str:
    """The key of a wait at action ``action_index`` for an event whose value at match is ``value``."""
    return f"{action_index}:{json.dumps(value, sort_keys=True, separators=(',', ':'))}"


def waited_event(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """What later actions see of an awaited event: ``{id, name, occurredAt, entityType, entityId,
    data}`` (no correlation ids, no depth: the run's own are those of its triggering event)."""
    return {name: envelope.get(name) for name in WAITED_EVENT_FIELDS}


def occurred_after(awaited: Any, trigger: Any) -> bool:
    """Whether an awaited event that occurred at ``awaited`` counts for a run triggered by an event
    that occurred at ``trigger`` (ISO-8601 strings): strictly later, so a run's own triggering
    event, or one before it, never ends its wait. Unreadable times never count."""
    a, t = parse_aware(awaited), parse_aware(trigger)
    return a is not None and t is not None and a > t


@lru_cache(maxsize=1024)
def _compiled(condition_json: str) -> CompiledCondition:
    return compile_condition(json.loads(condition_json))


def compiled(condition: Any) -> CompiledCondition:
    """``condition`` compiled once per distinct condition (rules' ``when``s repeat per run);
    raises DomainValidationError when it cannot compile."""
    return _compiled(json.dumps(condition, sort_keys=True))


def when_holds(when: Any, context: Mapping[str, Any]) -> bool:
    """Whether an action's ``when`` (None: always) holds in the run's ``context``: the event data
    with its aliases (the placeholder context) and ``waitedEvent`` once a wait took an event
    (absent otherwise), nothing else."""
    if when is None:
        return True
    return compiled(when).evaluate(context)


# -- save-time validation ---------------------------------------------------------------------
def _resolves(event_name: str, match: str) -> bool:
    return lookup(get_trigger(event_name).sample_data(), split_path(match)) is not MISSING


def wait_errors(args: Mapping[str, Any], trigger: str | None) -> list[FieldError]:
    """What the args model cannot check (locs relative to ``args``): ``match`` must resolve in the
    sample data of both the rule's ``trigger`` (when known) and ``eventName``; ``conditionsJson``
    must be a valid condition."""
    errors: list[FieldError] = []
    event_name = args.get("eventName")
    match = args.get("match")
    if isinstance(match, str) and path_error(match) is None:
        names = [trigger, event_name if isinstance(event_name, str) and event_name in TRIGGER_NAMES else None]
        for name in names:
            if name is not None and not _resolves(name, match):
                message = f"match {match!r} can never resolve for {name}"
                errors.append(FieldError(("match",), message, "match_path"))
    errors += [e.with_prefix("conditionsJson") for e in validate_condition(args.get("conditionsJson"))]
    return errors


def match_error(match: str) -> str | None:
    """Why ``match`` is not a dotted path (None: it is)."""
    problem = path_error(match)
    return None if problem is None else problem.replace("field", "match", 1)


def when_errors(when: Any) -> list[FieldError]:
    """Problems of an action's ``when`` (locs relative to it); null or absent = always."""
    return [] if when is None else validate_condition(when)


def waited_placeholder_ok(path: str, waited_events: Sequence[str]) -> bool:
    """Whether ``{path}``, rooted at ``waitedEvent``, can resolve after waits for ``waited_events``
    (the event names of the earlier ``wait_for_event`` actions; none: never)."""
    segments = path.split(".")
    if segments[0] != WAITED_EVENT or not waited_events:
        return False
    if len(segments) == 1:
        return True
    if segments[1] not in WAITED_EVENT_FIELDS:
        return False
    if len(segments) == 2:
        return True
    if segments[1] != "data":
        return False
    rest = ".".join(segments[2:])
    return any(placeholder_can_resolve(name, rest) for name in waited_events)
