"""delay_until: argument checks, the due instant across daylight-saving changes, and ifPast."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import pytest

from crmflow.due_time import (
    MAX_OFFSET_SECONDS,
    DueTimeOutOfRange,
    decide,
    delay_until_errors,
    due_at,
    parse_at,
)
from tests.support.times import utc

DAY = 86_400


def locs(args: dict[str, Any]) -> list[tuple[str | int, ...]]:
    return [e.loc for e in delay_until_errors(args)]


@pytest.mark.parametrize(
    "args",
    [
        {"at": "{appointment.startsAt}"},
        {"at": "{patient.nextFollowUpAt}", "offsetSeconds": 15_552_000, "ifPast": "skip"},
        {"at": "2026-03-12T09:00:00+01:00", "offsetSeconds": -DAY, "atLocalTime": "09:00", "ifPast": "run"},
        {"at": "2026-03-12T09:00:00Z", "offsetSeconds": MAX_OFFSET_SECONDS},
        {"at": "2026-03-12 09:00Z", "offsetSeconds": -MAX_OFFSET_SECONDS, "atLocalTime": "23:59"},
    ],
)
def test_valid_args(args: dict[str, Any]) -> None:
    assert delay_until_errors(args) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, [("at",)]),
        ({"at": "tomorrow"}, [("at",)]),
        ({"at": "2026-03-12"}, [("at",)]),  # a date: which zone's midnight?
        ({"at": "2026-03-12T09:00:00"}, [("at",)]),  # no offset
        ({"at": "2026-02-30T09:00:00Z"}, [("at",)]),
        ({"at": "{appointment.startsAt} + 1d"}, [("at",)]),
        ({"at": "{appointment.startsAt"}, [("at",)]),
        ({"at": "in {appointment.startsAt}"}, [("at",)]),
        ({"at": 1767225600}, [("at",)]),
        ({"at": "{appointment.startsAt}", "offsetSeconds": MAX_OFFSET_SECONDS + 1}, [("offsetSeconds",)]),
        ({"at": "{appointment.startsAt}", "offsetSeconds": -MAX_OFFSET_SECONDS - 1}, [("offsetSeconds",)]),
        ({"at": "{appointment.startsAt}", "offsetSeconds": True}, [("offsetSeconds",)]),
        ({"at": "{appointment.startsAt}", "offsetSeconds": 3600.0}, [("offsetSeconds",)]),
        ({"at": "{appointment.startsAt}", "offsetSeconds": "-86400"}, [("offsetSeconds",)]),
        ({"at": "{appointment.startsAt}", "atLocalTime": "24:00"}, [("atLocalTime",)]),
        ({"at": "{appointment.startsAt}", "atLocalTime": "9:00"}, [("atLocalTime",)]),
        ({"at": "{appointment.startsAt}", "atLocalTime": None}, [("atLocalTime",)]),
        ({"at": "{appointment.startsAt}", "ifPast": "later"}, [("ifPast",)]),
        ({"at": "{appointment.startsAt}", "when": "soon"}, [("when",)]),
        (
            {"at": "x", "offsetSeconds": False, "atLocalTime": "", "ifPast": None},
            [("at",), ("offsetSeconds",), ("atLocalTime",), ("ifPast",)],
        ),
    ],
)
def test_every_bad_arg_is_reported_at_its_field(
    args: dict[str, Any], expected: list[tuple[str, ...]]
) -> None:
    assert locs(args) == expected


def test_at_parses_offsets_and_refuses_guesses() -> None:
    berlin = timezone(timedelta(hours=1))
    assert parse_at("2026-03-12T09:00:00+01:00") == datetime(2026, 3, 12, 9, tzinfo=berlin)
    assert parse_at("2026-03-12T08:00:00.250Z") == utc(2026, 3, 12, 8, 0, 0, 250_000)
    too_long = "2026-03-12T09:00:00+01:00" + " " * 60
    for value in ("2026-03-12", "2026-03-12T09:00:00", "", "x" * 100, None, too_long):
        assert parse_at(value) is None, value


def test_without_local_time_the_due_time_is_at_plus_offset() -> None:
    at = datetime(2026, 3, 12, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    assert due_at(at, 0, None, "Europe/Berlin") == utc(2026, 3, 12, 8, 30)
    assert due_at(at, -DAY, None, "Europe/Berlin") == utc(2026, 3, 11, 8, 30)
    assert due_at(at, 15_552_000, None, "UTC") == utc(2026, 9, 8, 8, 30)
    assert due_at(at, 0, None, "UTC").tzinfo is UTC


@pytest.mark.parametrize(
    ("at", "offset", "local", "zone_name", "expected"),
    [
        # "a day before, at 09:00 their time", on ordinary days (winter and summer offsets)
        (utc(2026, 1, 20, 14, 0), -DAY, time(9, 0), "Europe/Berlin", utc(2026, 1, 19, 8, 0)),
        (utc(2026, 7, 20, 14, 0), -DAY, time(9, 0), "Europe/Berlin", utc(2026, 7, 19, 7, 0)),
        # the local DATE of at + offset counts, not the UTC date: 23:30 UTC is already the next day in Berlin
        (utc(2026, 1, 20, 23, 30), 0, time(9, 0), "Europe/Berlin", utc(2026, 1, 21, 8, 0)),
        (utc(2026, 1, 21, 3, 0), 0, time(9, 0), "America/New_York", utc(2026, 1, 20, 14, 0)),
        # the day before the appointment is the day the clocks change: the new offset applies
        (utc(2026, 3, 30, 8, 0), -DAY, time(9, 0), "Europe/Berlin", utc(2026, 3, 29, 7, 0)),
        (utc(2026, 10, 26, 8, 0), -DAY, time(9, 0), "Europe/Berlin", utc(2026, 10, 25, 8, 0)),
        (utc(2026, 3, 9, 14, 0), -DAY, time(9, 0), "America/New_York", utc(2026, 3, 8, 13, 0)),
        (utc(2026, 11, 2, 15, 0), -DAY, time(9, 0), "America/New_York", utc(2026, 11, 1, 14, 0)),
        # a local time the change skips: the moment of the jump (Berlin 02:00 -> 03:00 CEST)
        (utc(2026, 3, 29, 12, 0), 0, time(2, 30), "Europe/Berlin", utc(2026, 3, 29, 1, 0)),
        (utc(2026, 3, 8, 16, 0), 0, time(2, 30), "America/New_York", utc(2026, 3, 8, 7, 0)),
        # a local time the change repeats: its first occurrence (still summer time)
        (utc(2026, 10, 25, 12, 0), 0, time(2, 30), "Europe/Berlin", utc(2026, 10, 25, 0, 30)),
        (utc(2026, 11, 1, 16, 0), 0, time(1, 30), "America/New_York", utc(2026, 11, 1, 5, 30)),
        # offsets cross the change: 24 h are 24 h, the local time is then set on the day reached
        (utc(2026, 3, 28, 23, 30), DAY, None, "Europe/Berlin", utc(2026, 3, 29, 23, 30)),
        (utc(2026, 3, 28, 23, 30), DAY, time(0, 30), "Europe/Berlin", utc(2026, 3, 29, 22, 30)),
    ],
)
def test_local_time_on_the_local_date_across_daylight_saving(
    at: datetime, offset: int, local: time | None, zone_name: str, expected: datetime
) -> None:
    assert due_at(at, offset, local, zone_name) == expected


def test_a_due_time_beyond_the_calendar_is_a_clear_error() -> None:
    with pytest.raises(DueTimeOutOfRange):
        due_at(datetime(9999, 12, 31, 12, tzinfo=UTC), MAX_OFFSET_SECONDS, None, "UTC")
    with pytest.raises(DueTimeOutOfRange):
        due_at(datetime(1, 1, 1, 12, tzinfo=UTC), -DAY, time(9, 0), "Europe/Berlin")


@pytest.mark.parametrize(
    ("due", "if_past", "expected"),
    [
        (utc(2026, 3, 12, 9, 0, 1), "run", "wait"),
        (utc(2026, 3, 12, 9, 0, 1), "skip", "wait"),
        (utc(2026, 3, 12, 9, 0), "skip", "run"),  # due now is not past
        (utc(2026, 3, 12, 8, 59, 59), "run", "run"),
        (utc(2026, 3, 12, 8, 59, 59), "skip", "skip"),
    ],
)
def test_if_past_decides_only_for_due_times_before_now(due: datetime, if_past: Any, expected: str) -> None:
    assert decide(due, utc(2026, 3, 12, 9, 0), if_past) == expected
