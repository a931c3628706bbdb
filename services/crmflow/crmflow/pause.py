"""A rule's pause (SPEC section 13): ``paused`` is ``"hold"``, ``"skip"`` or null (running).

- ``skip``: the evaluator records each matched run ``skipped`` with reason ``paused``.
- ``hold``: each matched run is recorded ``held`` and its actions kept (``scheduled_resumes``,
  status ``held``) in event order; unpausing (``paused: null``) makes them due at once, and the
  runner's scheduler resumes them through the patient's partition in the order they were held.

Held runs stay held while the rule is paused with either mode; ``POST /api/runs/bulk``
``cancel`` drops them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from crmflow.validation import FieldError


class Pause(StrEnum):
    HOLD = "hold"
    SKIP = "skip"


PAUSED_SCHEMA: Final[dict[str, Any]] = {
    "description": "hold: new runs are kept (status held) and run in order once unpaused; skip: "
    "they are recorded skipped (reason paused); null: not paused.",
    "anyOf": [{"enum": [p.value for p in Pause]}, {"type": "null"}],
}


def paused_errors(paused: Any) -> list[FieldError]:
    if paused is None or paused in {p.value for p in Pause}:
        return []
    return [FieldError((), "paused must be 'hold', 'skip' or null", "enum")]
