"""A rule's ``cancelOn`` (SPEC section 8): the events that stop its waiting runs.

``cancelOn`` is a list of at most :data:`MAX_ENTRIES` ``{eventName, match, conditionsJson?}``. An
event named ``eventName`` whose data satisfies ``conditionsJson`` cancels the rule's waiting runs
whose triggering event had the same value at the dotted path ``match``. Both sides reduce an
event to *cancel keys* (:func:`cancel_key`: the entry's index and the JSON of the value), so the
runner finds the runs to cancel by an indexed key, never by reading their events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from crmflow.conditions import validate_condition
from crmflow.conditions.paths import MISSING, lookup, path_error, split_path
from crmflow.triggers import TRIGGER_NAMES, get_trigger
from crmflow.validation import FieldError, extra_field_errors

MAX_ENTRIES: Final = 5
ENTRY_FIELDS: Final = ("eventName", "match", "conditionsJson")

CANCEL_ON_SCHEMA: Final[dict[str, Any]] = {
    "description": "Events that cancel the rule's waiting runs with the same value at `match` "
    "(SPEC section 8); null or absent = none.",
    "anyOf": [
        {
            "type": "array",
            "maxItems": MAX_ENTRIES,
            "items": {
                "type": "object",
                "properties": {
                    "eventName": {"enum": sorted(TRIGGER_NAMES)},
                    "match": {"type": "string", "description": "Dotted path into both events' data."},
                    "conditionsJson": {"description": "A condition on the cancelling event (section 5)."},
                },
                "required": ["eventName", "match"],
                "additionalProperties": False,
            },
        },
        {"type": "null"},
    ],
}


def match_value(data: Any, match: tuple[str, ...]) -> Any:
    """The value at the path ``match`` (split, as the rules index keeps it) in an event's ``data``
    (None when missing)."""
    value = lookup(data, match)
    return None if value is MISSING else value


def cancel_key(index: int, value: Any) -> str:
    """The key entry ``index`` gives an event whose value at ``match`` is ``value``."""
    return f"{index}:{json.dumps(value, sort_keys=True, separators=(',', ':'))}"


def _resolves(event_name: str, match: str) -> bool:
    return lookup(get_trigger(event_name).sample_data(), split_path(match)) is not MISSING


def _entry_errors(entry: Any, trigger: str | None) -> list[FieldError]:
    if not isinstance(entry, Mapping):
        return [FieldError((), "each cancelOn entry must be an object {eventName, match}", "dict_type")]
    errors = extra_field_errors(entry, ENTRY_FIELDS)
    event_name = entry.get("eventName")
    known = isinstance(event_name, str) and event_name in TRIGGER_NAMES
    if not known:
        errors.append(
            FieldError(("eventName",), f"unknown event; one of {sorted(TRIGGER_NAMES)}", "unknown_trigger")
        )
    match = entry.get("match")
    problem = "match is required" if "match" not in entry else path_error(match)
    if problem is not None:
        errors.append(FieldError(("match",), problem.replace("field", "match", 1), "match_path"))
    elif isinstance(match, str):
        for name in (trigger, event_name if known else None):
            if name is not None and not _resolves(name, match):
                errors.append(
                    FieldError(("match",), f"match {match!r} can never resolve for {name}", "match_path")
                )
    errors += [e.with_prefix("conditionsJson") for e in validate_condition(entry.get("conditionsJson"))]
    return errors


def cancel_on_errors(cancel_on: Any, trigger: str | None) -> list[FieldError]:
    """Every problem of ``cancelOn`` (locs relative to it: ``(0, "match")``). ``match`` must resolve
    in the sample data of both the rule's ``trigger`` (when known) and the entry's event."""
    if cancel_on is None:
        return []
    if not isinstance(cancel_on, list):
        return [
            FieldError((), "cancelOn must be an array of {eventName, match, conditionsJson?}", "list_type")
        ]
    if len(cancel_on) > MAX_ENTRIES:
        return [FieldError((), f"at most {MAX_ENTRIES} cancelOn entries are allowed", "too_long")]
    errors: list[FieldError] = []
    for index, entry in enumerate(cancel_on):
        errors += [e.with_prefix(index) for e in _entry_errors(entry, trigger)]
    return errors
