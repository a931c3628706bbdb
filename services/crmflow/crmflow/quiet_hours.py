"""A practice's quiet hours (SPEC section 8): ``{"start": "HH:MM", "end": "HH:MM"}`` in its zone.

Pure. Quiet is a matter of the local wall clock: from ``start`` (included) to ``end`` (excluded),
across midnight when ``end`` is earlier than ``start`` (``21:00``-``08:00``). ``start == end`` is
refused: "no quiet hours" is ``null``, and "always quiet" would hold messages forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from crmflow.timezones import local_instant, parse_local_time, zone
from crmflow.validation import DomainValidationError, FieldError, extra_field_errors


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    @classmethod
    def from_json(cls, value: Any) -> QuietHours:
        """From ``{"start": "HH:MM", "end": "HH:MM"}`` (:class:`DomainValidationError` with every
        problem, locs ``("start",)``, ``("end",)`` or ``()``)."""
        if not isinstance(value, Mapping):
            raise DomainValidationError([FieldError((), "must be {start, end} or null", "dict_type")])
        errors = extra_field_errors(value, ("start", "end"))
        times = {}
        for name in ("start", "end"):
            parsed = parse_local_time(value.get(name))
            if parsed is None:
                errors.append(FieldError((name,), f"{name} must be 'HH:MM' (00:00 to 23:59)", "local_time"))
            times[name] = parsed
        if not errors and times["start"] == times["end"]:
            errors.append(FieldError((), "start and end must differ (none: null)", "empty_quiet_hours"))
        if errors:
            raise DomainValidationError(errors)
        return cls(start=times["start"], end=times["end"])

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}

    def covers(self, wall: time) -> bool:
        """Whether the local time of day ``wall`` is quiet."""
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end


def in_quiet_hours(instant: datetime, zone_name: str, quiet: QuietHours | None) -> bool:
    """Whether the clocks of ``zone_name`` show a quiet time at ``instant`` (aware)."""
    return quiet is not None and quiet.covers(instant.astimezone(zone(zone_name)).time())


def quiet_hours_end(instant: datetime, zone_name: str, quiet: QuietHours | None) -> datetime:
    """The earliest instant (UTC) from ``instant`` on that is not quiet: ``instant`` itself when it
    is not, else the next time the local clocks reach ``end`` (a skipped ``end``: the moment the
    clocks jump past it; a repeated one: the pass ``instant`` is in)."""
    if not in_quiet_hours(instant, zone_name, quiet):
        return instant.astimezone(UTC)
    assert quiet is not None
    tz = zone(zone_name)
    local = instant.astimezone(tz)
    day = local.date() + timedelta(days=1 if local.time() >= quiet.end else 0)
    end = local_instant(day, quiet.end, tz)
    if end <= instant:  # clocks went back: ``instant`` is in the second pass of the repeated hour
        end = datetime.combine(day, quiet.end, tzinfo=tz).replace(fold=1).astimezone(UTC)
    return end
