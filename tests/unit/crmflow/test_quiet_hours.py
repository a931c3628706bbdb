"""Quiet hours: parsing, whether an instant is quiet, and when quiet hours end (midnight, DST)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import pytest

from crmflow.quiet_hours import QuietHours, in_quiet_hours, quiet_hours_end
from crmflow.validation import DomainValidationError
from tests.support.times import utc

NIGHT = QuietHours(time(21, 0), time(8, 0))  # wraps midnight
LUNCH = QuietHours(time(12, 0), time(13, 30))


def test_json_round_trip() -> None:
    assert QuietHours.from_json({"start": "21:00", "end": "08:00"}) == NIGHT
    assert NIGHT.to_json() == {"start": "21:00", "end": "08:00"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"start": "21:00"}, [("end",)]),
        ({"start": "25:00", "end": "8:00"}, [("start",), ("end",)]),
        ({"start": "21:00", "end": "08:00", "days": "weekdays"}, [("days",)]),
        ({"start": "08:00", "end": "08:00"}, [()]),
        ("21:00-08:00", [()]),
    ],
)
def test_bad_quiet_hours_are_reported_at_their_field(value: Any, expected: list[tuple[str, ...]]) -> None:
    with pytest.raises(DomainValidationError) as exc:
        QuietHours.from_json(value)
    assert [e.loc for e in exc.value.errors] == expected


@pytest.mark.parametrize(
    ("wall", "night", "lunch"),
    [
        (time(20, 59), False, False),
        (time(21, 0), True, False),
        (time(23, 59), True, False),
        (time(0, 0), True, False),
        (time(7, 59, 59), True, False),
        (time(8, 0), False, False),
        (time(12, 0), False, True),
        (time(13, 29), False, True),
        (time(13, 30), False, False),
    ],
)
def test_start_is_quiet_end_is_not(wall: time, night: bool, lunch: bool) -> None:
    assert (NIGHT.covers(wall), LUNCH.covers(wall)) == (night, lunch)


def test_quiet_is_judged_by_the_practices_clock() -> None:
    # 20:30 UTC in January is 21:30 in Berlin (quiet) and 15:30 in New York (not)
    instant = utc(2026, 1, 15, 20, 30)
    assert in_quiet_hours(instant, "Europe/Berlin", NIGHT)
    assert not in_quiet_hours(instant, "America/New_York", NIGHT)
    assert not in_quiet_hours(instant, "Europe/Berlin", None)
    assert in_quiet_hours(instant.astimezone(timezone(timedelta(hours=-5))), "Europe/Berlin", NIGHT)


@pytest.mark.parametrize(
    ("instant", "zone_name", "quiet", "expected"),
    [
        # not quiet: the instant itself
        (utc(2026, 1, 15, 10, 0), "Europe/Berlin", NIGHT, utc(2026, 1, 15, 10, 0)),
        (utc(2026, 1, 15, 10, 0), "Europe/Berlin", None, utc(2026, 1, 15, 10, 0)),
        # before midnight: 08:00 the next morning; after midnight: 08:00 the same day
        (utc(2026, 1, 15, 21, 0), "Europe/Berlin", NIGHT, utc(2026, 1, 16, 7, 0)),
        (utc(2026, 1, 16, 2, 0), "Europe/Berlin", NIGHT, utc(2026, 1, 16, 7, 0)),
        (utc(2026, 7, 15, 21, 0), "Europe/Berlin", NIGHT, utc(2026, 7, 16, 6, 0)),
        (utc(2026, 1, 15, 11, 15), "Europe/Berlin", LUNCH, utc(2026, 1, 15, 12, 30)),
        # the night the clocks change: the morning's offset applies
        (utc(2026, 3, 28, 22, 0), "Europe/Berlin", NIGHT, utc(2026, 3, 29, 6, 0)),
        (utc(2026, 10, 24, 22, 0), "Europe/Berlin", NIGHT, utc(2026, 10, 25, 7, 0)),
        (utc(2026, 3, 8, 3, 0), "America/New_York", NIGHT, utc(2026, 3, 8, 12, 0)),
        (utc(2026, 11, 1, 3, 0), "America/New_York", NIGHT, utc(2026, 11, 1, 13, 0)),
    ],
)
def test_quiet_hours_end(
    instant: datetime, zone_name: str, quiet: QuietHours | None, expected: datetime
) -> None:
    end = quiet_hours_end(instant, zone_name, quiet)
    assert end == expected and end.tzinfo is UTC
    assert not in_quiet_hours(end, zone_name, quiet)
    if end > instant:
        assert in_quiet_hours(end - timedelta(seconds=1), zone_name, quiet)


def test_an_end_the_clocks_skip_ends_when_they_jump() -> None:
    # Berlin 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00 UTC; quiet until 02:30 ends at the jump
    quiet = QuietHours(time(22, 0), time(2, 30))
    end = quiet_hours_end(utc(2026, 3, 28, 23, 45), "Europe/Berlin", quiet)
    assert end == utc(2026, 3, 29, 1, 0)
    assert in_quiet_hours(end - timedelta(seconds=1), "Europe/Berlin", quiet)
    assert not in_quiet_hours(end, "Europe/Berlin", quiet)


def test_an_end_the_clocks_repeat_ends_in_the_pass_the_instant_is_in() -> None:
    # New York 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00 UTC; 01:00-01:59 happens twice
    quiet = QuietHours(time(0, 30), time(1, 15))
    first_pass = utc(2026, 11, 1, 4, 45)  # 00:45 EDT
    assert quiet_hours_end(first_pass, "America/New_York", quiet) == utc(2026, 11, 1, 5, 15)  # 01:15 EDT
    assert not in_quiet_hours(utc(2026, 11, 1, 5, 30), "America/New_York", quiet)  # 01:30 EDT
    second_pass = utc(2026, 11, 1, 6, 5)  # 01:05 EST: the wall clock is back before 01:15
    assert in_quiet_hours(second_pass, "America/New_York", quiet)
    assert quiet_hours_end(second_pass, "America/New_York", quiet) == utc(2026, 11, 1, 6, 15)  # 01:15 EST
