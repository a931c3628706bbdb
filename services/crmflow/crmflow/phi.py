"""PHI-minimal views of action args, for action logs: ids and numbers stay, free text does not.

A free-text value becomes ``{"redacted": true, "chars": N}``; field names of
update_patient_fields stay (what changed), their values do not.
"""

from __future__ import annotations

from typing import Any

KEEP_STRINGS = frozenset({"patientId", "assignee", "channel"})


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return {"redacted": True, "chars": len(value)}
    if isinstance(value, list | dict):
        return {"redacted": True, "items": len(value)}
    return value


def minimal_args(args: Any) -> Any:
    if not isinstance(args, dict):
        return _redact(args)
    out: dict[str, Any] = {}
    for key, value in args.items():
        if key == "fields" and isinstance(value, dict):
            out[key] = {name: _redact(v) for name, v in value.items()}
        elif key in KEEP_STRINGS or not isinstance(value, str | list | dict):
            out[key] = value
        else:
            out[key] = _redact(value)
    return out
