"""``delay_until`` (SPEC section 8): its arguments and the instant a waiting run comes due.

Pure: no clock (``now`` is passed in, from the database), no I/O. ``at`` is an ISO-8601 date-time
with an offset, or one placeholder resolving to one (``"{appointment.startsAt}"``); the due time
is ``at + offsetSeconds``, moved to ``atLocalTime`` on that same local date in the practice's zone
when given. Local times a daylight-saving change skips or repeats follow
:func:`crmflow.timezones.local_instant`: a skipped one is the moment the clocks jump, a repeated
one its first occurrence.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final, Literal, get_args

from crmflow.templates import TemplateSyntaxError, parse
from crmflow.timezones import local_instant, parse_aware, parse_local_time, zone
from crmflow.validation import FieldError, extra_field_errors

MAX_OFFSET_SECONDS: Final = 31_536_000  # one year, either way
MAX_AT_CHARS: Final = 64

IfPast = Literal["run", "skip"]
Decision = Literal["wait", "run", "skip"]
IF_PAST: Final[tuple[str, ...]] = get_args(IfPast)
ARG_NAMES: Final = ("at", "offsetSeconds", "atLocalTime", "ifPast")
SKIPPED_REASON: Final = "due time passed"


class DueTimeOutOfRange(ValueError):
    """``at`` plus the offset lies outside the dates a timestamp can hold (years 1 to 9999)."""

    def __init__(self) -> None:
        super().__init__("the due time is outside the years 1 to 9999")


def parse_at(value: object) -> datetime | None:
    """An ISO-8601 date-time *with* an offset (``Z`` or ``±HH:MM``) as an aware datetime, else None.

    Used on the literal of a rule and on the resolved placeholder of an event alike. A date alone or
    a date-time without an offset is refused: which zone it means would be a guess.
    """
    if not isinstance(value, str) or not 16 <= len(value) <= MAX_AT_CHARS or value[10:11] not in ("T", " "):
        return None
    return parse_aware(value)


def is_single_placeholder(value: str) -> bool:
    """``value`` is exactly one ``{path}`` and nothing else (malformed templates are not)."""
    try:
        parts = parse(value).parts
    except TemplateSyntaxError:
        return False
    return len(parts) == 1 and isinstance(parts[0], tuple)


def bound_field(at: object, entity_type: str) -> str | None:
    """The field of the triggering entity that ``at`` names, which the waiting run follows
    (re-planning): ``"startsAt"`` for ``"{appointment.startsAt}"`` on an appointment event; None for
    a literal, a placeholder of another object (``{patient.nextFollowUpAt}`` on an appointment
    event) or the entity itself."""
    if not isinstance(at, str) or not is_single_placeholder(at):
        return None
    segments = parse(at).parts[0]
    if len(segments) < 2 or segments[0] != entity_type:
        return None
    return ".".join(segments[1:])


def at_error(value: object) -> str | None:
    if isinstance(value, str) and (is_single_placeholder(value) or parse_at(value) is not None):
        return None
    return (
        "at must be an ISO-8601 date-time with an offset (e.g. '2026-03-12T09:00:00+01:00') "
        "or one placeholder resolving to one (e.g. '{appointment.startsAt}')"
    )


def offset_error(value: object) -> str | None:
    if type(value) is int and -MAX_OFFSET_SECONDS <= value <= MAX_OFFSET_SECONDS:
        return None
    return f"offsetSeconds must be a whole number from {-MAX_OFFSET_SECONDS} to {MAX_OFFSET_SECONDS}"


def local_time_error(value: object) -> str | None:
    return None if parse_local_time(value) is not None else "atLocalTime must be 'HH:MM' (00:00 to 23:59)"


def if_past_error(value: object) -> str | None:
    return None if value in IF_PAST else "ifPast must be 'run' or 'skip'"


_CHECKS: Final = {
    "at": (at_error, "delay_until_at"),
    "offsetSeconds": (offset_error, "delay_until_offset"),
    "atLocalTime": (local_time_error, "local_time"),
    "ifPast": (if_past_error, "delay_until_if_past"),
}


def delay_until_errors(args: Mapping[str, Any]) -> list[FieldError]:
    """Every problem of ``delay_until``'s unrendered args, locs relative to them (``("at",)``).

    Whether a placeholder can resolve for the rule's trigger is the caller's check (as for every
    action's placeholders).
    """
    errors = extra_field_errors(args, _CHECKS)
    if "at" not in args:
        errors.append(FieldError(("at",), "at is required", "missing"))
    for name, (check, kind) in _CHECKS.items():
        message = check(args[name]) if name in args else None
        if message is not None:
            errors.append(FieldError((name,), message, kind))
    return errors


def due_at(at: datetime, offset_seconds: int, at_local_time: time | None, zone_name: str) -> datetime:
    """The instant (UTC) a run waiting on ``at`` comes due.

    ``at + offset_seconds``; with ``at_local_time``, that instant's date *in the practice's zone*
    at that local time (``-86400`` and ``"09:00"``: 09:00 local on the day before ``at``).
    """
    try:
        shifted = at.astimezone(UTC) + timedelta(seconds=offset_seconds)
        if at_local_time is None:
            return shifted
        tz = zone(zone_name)
        return local_instant(shifted.astimezone(tz).date(), at_local_time, tz)
    except OverflowError as exc:
        raise DueTimeOutOfRange() from exc


def decide(due: datetime, now: datetime, if_past: IfPast) -> Decision:
    """``wait`` until ``due``; ``run`` at once when it is now, or has passed and ``if_past`` is
    ``run``; ``skip`` (the run ends ``skipped``, :data:`SKIPPED_REASON`) when it has passed and
    ``if_past`` is ``skip``."""
    if due > now:
        return "wait"
    return "run" if due == now else if_past
