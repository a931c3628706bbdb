"""A rule's enrollment policy (SPEC section 13): how many runs one key value may have.

``enrollment`` is ``{key?, reenroll}`` or null (= ``{"reenroll": "always"}``, one run per matched
event, the behaviour without a policy). ``key`` is a dotted path into the event ``data`` (e.g.
``appointment.id``); without it the key is the run's patient (its ``patientId``). With
``reenroll``:

- ``always``: no limit (the key is ignored);
- ``never``: one run per key value, ever;
- ``after_finish``: a new run only once the key value's last run has ended (succeeded, failed,
  skipped, cancelled; ``waiting`` and ``held`` runs are active).

A refused event still yields a run, ``skipped`` with reason ``already_enrolled``. The evaluator
reduces an event to its *enrollment key* (:func:`enrollment_key`); the runner claims it in
``rule_enrollments`` in the run's transaction (a primary key on (rule, key): two runner
instances cannot both claim it). An event without a value at ``key`` is not limited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from crmflow.conditions.paths import MISSING, lookup, path_error, split_path
from crmflow.triggers import get_trigger
from crmflow.validation import FieldError, extra_field_errors


class Reenroll(StrEnum):
    ALWAYS = "always"
    NEVER = "never"
    AFTER_FINISH = "after_finish"


FIELDS: Final = ("key", "reenroll")
PATIENT_KEY: Final = "patientId"
"""What a key-less policy limits by: the run's patient (the event's ``patientId`` alias)."""

ENROLLMENT_SCHEMA: Final[dict[str, Any]] = {
    "description": "Enrollment policy (SPEC section 13): at most one active run per value of `key` "
    "(`after_finish`) or one ever (`never`); null or absent = `always` (no limit).",
    "anyOf": [
        {
            "type": "object",
            "properties": {
                "key": {
                    "type": "string",
                    "description": "Dotted path into the event data (e.g. appointment.id); "
                    "absent = the run's patient.",
                },
                "reenroll": {"enum": [r.value for r in Reenroll]},
            },
            "required": ["reenroll"],
            "additionalProperties": False,
        },
        {"type": "null"},
    ],
}


def enrollment_errors(enrollment: Any, trigger: str | None) -> list[FieldError]:
    """Every problem of ``enrollment`` (locs relative to it); ``key`` must resolve in the sample
    data of the rule's ``trigger`` (when known)."""
    if enrollment is None:
        return []
    if not isinstance(enrollment, Mapping):
        return [FieldError((), "enrollment must be an object {key?, reenroll}", "dict_type")]
    errors = extra_field_errors(enrollment, FIELDS)
    reenroll = enrollment.get("reenroll")
    if reenroll not in {r.value for r in Reenroll}:
        allowed = ", ".join(repr(r.value) for r in Reenroll)
        errors.append(FieldError(("reenroll",), f"reenroll must be one of {allowed}", "enum"))
    if "key" in enrollment:
        key = enrollment["key"]
        problem = path_error(key)
        if problem is not None:
            errors.append(FieldError(("key",), problem.replace("field", "key", 1), "key_path"))
        elif trigger is not None and lookup(get_trigger(trigger).sample_data(), split_path(key)) is MISSING:
            errors.append(FieldError(("key",), f"key {key!r} can never resolve for {trigger}", "key_path"))
    return errors


def policy(enrollment: Mapping[str, Any] | None) -> tuple[tuple[str, ...] | None, Reenroll]:
    """(the key path split, None for the patient; the re-enrollment) of a saved policy."""
    if not enrollment:
        return None, Reenroll.ALWAYS
    key = enrollment.get("key")
    return (split_path(key) if isinstance(key, str) else None), Reenroll(enrollment["reenroll"])


def enrollment_key(path: tuple[str, ...] | None, data: Any, patient_id: str | None) -> str | None:
    """The value an event is enrolled by (JSON, so 1 and "1" differ), or None (not limited):
    the value at ``path`` in the event ``data``, or the patient when ``path`` is None."""
    if path is None:
        return None if patient_id is None else f"patient:{patient_id}"
    value = lookup(data, path)
    if value is MISSING or value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
