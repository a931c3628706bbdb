"""Time zones and local wall-clock times, from the ``tzdata`` package crmflow ships.

Zones are read from ``tzdata`` itself, never from the host's ``/usr/share/zoneinfo``, so every
machine (a laptop, the slim container image, CI) knows the same zone names and computes the same
instants. A local time that a daylight-saving change skips or repeats is resolved by one rule,
:func:`local_instant`, used by everything that turns a wall-clock time into an instant.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from functools import cache
from importlib import resources
from typing import Final
from zoneinfo import ZoneInfo

DEFAULT_ZONE: Final = "UTC"
ZONE_NAMES: Final[frozenset[str]] = frozenset(resources.files("tzdata").joinpath("zones").read_text().split())
"""Every IANA zone name of the shipped database (``Europe/Berlin``, ``UTC``, ``US/Eastern``...)."""

_LOCAL_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])", re.ASCII)
LOCAL_TIME_PATTERN: Final = f"^{_LOCAL_TIME.pattern}$"
"""``HH:MM``, 00:00 to 23:59 (for JSON Schemas; :func:`parse_local_time` is the check)."""


class UnknownTimeZone(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown time zone {name[:64]!r}: use an IANA name such as 'Europe/Berlin'")


def is_zone(name: object) -> bool:
    return isinstance(name, str) and name in ZONE_NAMES


@cache
def zone(name: str) -> ZoneInfo:
    """The zone ``name`` (:class:`UnknownTimeZone` if the database has none by that name)."""
    if not is_zone(name):
        raise UnknownTimeZone(name)
    with resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).open("rb") as data:
        return ZoneInfo.from_file(data, key=name)


def parse_local_time(value: object) -> time | None:
    """``"HH:MM"`` (00:00 to 23:59) as a time of day, else None (never raises)."""
    if not isinstance(value, str):
        return None
    match = _LOCAL_TIME.fullmatch(value)
    return time(int(match[1]), int(match[2])) if match else None


def parse_aware(value: object) -> datetime | None:
    """An ISO-8601 date-time with an offset as an aware datetime; None for anything else (not a
    string, unreadable, or without an offset)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the clocks of ``tz`` show ``at`` or later on ``day``.

    An ordinary local time is that instant. A repeated one (autumn: clocks go back) is its first
    occurrence, the one before the change. A skipped one (spring: clocks go forward) is the moment
    of the change itself: 02:30 on 2026-03-29 in Europe/Berlin, which jumps from 02:00 to 03:00,
    is 03:00 CEST (01:00 UTC).
    """
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)  # in a fold: the earlier occurrence
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=1 reads the wall time with the offset after the change (an instant before it),
    # fold=0 with the offset before (an instant after it). The change lies between: bisect to it.
    before = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    after = int(first.timestamp())
    while after - before > 1:  # changes happen on whole seconds
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)
