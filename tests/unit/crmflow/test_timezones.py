"""Zones from the shipped tzdata, and local wall-clock times across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from crmflow.timezones import UnknownTimeZone, is_zone, local_instant, parse_local_time, zone
from tests.support.times import utc


def test_zone_names_come_from_the_shipped_database() -> None:
    assert all(is_zone(name) for name in ("UTC", "Europe/Berlin", "America/New_York", "US/Eastern"))
    for name in ("", "Mars/Olympus", "europe/berlin", "../etc/passwd", "Europe/Berlin\x00", "localtime", 7):
        assert not is_zone(name), name
        if isinstance(name, str):
            with pytest.raises(UnknownTimeZone):
                zone(name)
    assert zone("Europe/Berlin").key == "Europe/Berlin"
    assert zone("Europe/Berlin") is zone("Europe/Berlin")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("00:00", time(0, 0)), ("09:05", time(9, 5)), ("23:59", time(23, 59))],
)
def test_local_times_parse(value: str, expected: time) -> None:
    assert parse_local_time(value) == expected


@pytest.mark.parametrize("value", ["24:00", "9:00", "09:60", "09:00:00", " 09:00", "09:00\n", "", None, 900])
def test_bad_local_times_do_not(value: object) -> None:
    assert parse_local_time(value) is None


@pytest.mark.parametrize(
    ("zone_name", "day", "wall", "expected"),
    [
        # ordinary days: the wall time in that day's offset
        ("Europe/Berlin", date(2026, 1, 15), time(9, 0), utc(2026, 1, 15, 8, 0)),
        ("Europe/Berlin", date(2026, 7, 15), time(9, 0), utc(2026, 7, 15, 7, 0)),
        # spring forward (02:00 -> 03:00 in Berlin, 02:00 -> 03:00 in New York): a skipped wall
        # time is the moment of the jump
        ("Europe/Berlin", date(2026, 3, 29), time(2, 30), utc(2026, 3, 29, 1, 0)),
        ("Europe/Berlin", date(2026, 3, 29), time(2, 0), utc(2026, 3, 29, 1, 0)),
        ("Europe/Berlin", date(2026, 3, 29), time(3, 0), utc(2026, 3, 29, 1, 0)),
        ("Europe/Berlin", date(2026, 3, 29), time(1, 59), utc(2026, 3, 29, 0, 59)),
        ("America/New_York", date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 0)),
        # fall back (03:00 -> 02:00 in Berlin, 02:00 -> 01:00 in New York): a repeated wall time
        # is its first occurrence, still in summer time
        ("Europe/Berlin", date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30)),
        ("Europe/Berlin", date(2026, 10, 25), time(3, 0), utc(2026, 10, 25, 2, 0)),
        ("America/New_York", date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30)),
        ("America/New_York", date(2026, 11, 1), time(2, 0), utc(2026, 11, 1, 7, 0)),
        # a zone that skipped a whole day: Samoa went from 2011-12-29 to 2011-12-31
        ("Pacific/Apia", date(2011, 12, 30), time(9, 0), utc(2011, 12, 30, 10, 0)),
    ],
)
def test_local_instant_resolves_skipped_and_repeated_wall_times(
    zone_name: str, day: date, wall: time, expected: datetime
) -> None:
    instant = local_instant(day, wall, zone(zone_name))
    assert instant == expected and instant.tzinfo is UTC
