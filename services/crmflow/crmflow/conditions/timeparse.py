"""ISO-8601 date-times and durations for the comparison and ``within_*`` operators.

Date-times are strings starting ``YYYY-MM-DD``, optionally followed by ``T`` (or a space) and a
time with optional fraction and ``Z``/``±HH:MM`` offset.  A date alone means midnight.  Values
without an offset are taken as UTC, so naive and aware values always compare instead of failing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final

MAX_DURATION: Final = timedelta(days=36_525)  # a century: keeps now +/- duration representable

_fromisoformat = datetime.fromisoformat
_SHORT_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)
_ISO_DURATION = re.compile(
    r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.ASCII
)


def parse_datetime(value: Any) -> datetime | None:
    """An aware datetime for an ISO-8601 date-time string, else None (never raises).

    Called per event by date comparisons, so the common shape is checked without a regex.
    """
    if type(value) is not str or not 10 <= len(value) <= 64 or value[4] != "-" or value[7] != "-":
        return None
    if len(value) > 10 and value[10] != "T" and value[10] != " ":
        return None
    try:
        parsed = _fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_duration(value: Any) -> timedelta | str:
    """A duration, or the reason ``value`` is not one.

    Accepted: seconds as a number; ``"90s"``, ``"30m"``, ``"24h"``, ``"7d"``, ``"2w"`` and
    combinations in that order (``"1h30m"``); ISO-8601 ``"PT24H"``, ``"P7D"``, ``"P1W"``.  Years and
    months are refused: their length in seconds is ambiguous.
    """
    if type(value) in (int, float):
        if value != value or value < 0:
            return "duration must be a non-negative number of seconds"
        if value > MAX_DURATION.total_seconds():  # also catches inf and ints too big for a float
            return "duration must be at most 100 years"
        seconds = float(value)
    elif type(value) is str and value and len(value) <= 64:
        text = value.strip()
        short = _SHORT_DURATION.fullmatch(text)
        iso = _ISO_DURATION.fullmatch(text)
        if short and text:
            w, d, h, m, s = (int(g or 0) for g in short.groups())
            seconds = float(s + 60 * m + 3600 * h + 86400 * d + 604800 * w)
        elif iso and text != "P":
            w, d, h, m = (int(g or 0) for g in iso.groups()[:4])
            seconds = float(iso.group(5) or 0) + 60 * m + 3600 * h + 86400 * d + 604800 * w
        else:
            return (
                f"invalid duration {value[:40]!r}: use e.g. '90s', '30m', '24h', '7d', 'PT24H', 'P7D' "
                "or a number of seconds"
            )
    else:
        return "duration must be a string like '24h' (at most 64 characters) or a number of seconds"
    if seconds > MAX_DURATION.total_seconds():
        return "duration must be at most 100 years"
    return timedelta(seconds=seconds)


def utc_now(now: datetime | None) -> datetime:
    """``now`` made aware (naive is taken as UTC), defaulting to the current time."""
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)
