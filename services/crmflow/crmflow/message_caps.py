"""A practice's frequency caps (SPEC section 13): ``{"perPatientPerDay"?: n, "perPatientPerWeek"?: n}``.

Pure. A cap counts the messages sent (or being sent) to one patient since the start of the current
day or week on the practice's clocks (a week starts on Monday, 00:00 local time); a send that
would reach the cap is skipped (``capped``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Final

from crmflow.timezones import local_instant, zone
from crmflow.validation import DomainValidationError, FieldError, extra_field_errors

FIELDS: Final = ("perPatientPerDay", "perPatientPerWeek")
MAX_CAP: Final = 10_000


@dataclass(frozen=True)
class MessageCaps:
    per_day: int | None = None
    per_week: int | None = None

    @classmethod
    def from_json(cls, value: Any) -> MessageCaps:
        """From ``{perPatientPerDay?, perPatientPerWeek?}`` (:class:`DomainValidationError` with every
        problem, locs ``("perPatientPerDay",)``... or ``()``)."""
        if not isinstance(value, Mapping):
            raise DomainValidationError([FieldError((), "must be an object or null", "dict_type")])
        errors = extra_field_errors(value, FIELDS)
        for name in FIELDS:
            cap = value.get(name)
            if cap is None:
                continue
            if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_CAP:
                errors.append(
                    FieldError((name,), f"{name} must be an integer from 0 to {MAX_CAP} or null", "int_range")
                )
        if errors:
            raise DomainValidationError(errors)
        return cls(per_day=value.get("perPatientPerDay"), per_week=value.get("perPatientPerWeek"))

    def to_json(self) -> dict[str, int]:
        out = {"perPatientPerDay": self.per_day, "perPatientPerWeek": self.per_week}
        return {k: v for k, v in out.items() if v is not None}


def window_starts(caps: MessageCaps, now: datetime, zone_name: str) -> list[tuple[datetime, int]]:
    """(start of the window as an aware UTC instant, cap) for each cap set: today's and this
    week's start on the clocks of ``zone_name`` at ``now``."""
    tz = zone(zone_name)
    today = now.astimezone(tz).date()
    windows = []
    if caps.per_day is not None:
        windows.append((local_instant(today, time(0, 0), tz), caps.per_day))
    if caps.per_week is not None:
        monday = today - timedelta(days=today.weekday())
        windows.append((local_instant(monday, time(0, 0), tz), caps.per_week))
    return windows
