"""Frequency caps (SPEC section 13): their validation and the day/week windows on the practice's clocks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmflow.message_caps import MessageCaps, window_starts
from crmflow.practice_settings import settings_errors
from crmflow.validation import DomainValidationError


def test_caps_from_json_and_back() -> None:
    caps = MessageCaps.from_json({"perPatientPerDay": 2, "perPatientPerWeek": 5})
    assert (caps.per_day, caps.per_week) == (2, 5)
    assert caps.to_json() == {"perPatientPerDay": 2, "perPatientPerWeek": 5}
    assert MessageCaps.from_json({}).to_json() == {}
    assert MessageCaps.from_json({"perPatientPerDay": None}).per_day is None


@pytest.mark.parametrize(
    ("value", "locs"),
    [
        ({"perPatientPerDay": -1}, [("perPatientPerDay",)]),
        ({"perPatientPerDay": True}, [("perPatientPerDay",)]),
        ({"perPatientPerWeek": "3"}, [("perPatientPerWeek",)]),
        ({"perPatientPerWeek": 1.5}, [("perPatientPerWeek",)]),
        ({"perPatientPerWeek": 10_001}, [("perPatientPerWeek",)]),
        ({"perMonth": 1}, [("perMonth",)]),
        ([1], [()]),
    ],
)
def test_invalid_caps_are_refused_at_their_field(value: object, locs: list[tuple[str, ...]]) -> None:
    with pytest.raises(DomainValidationError) as refused:
        MessageCaps.from_json(value)
    assert [e.loc for e in refused.value.errors] == locs


def test_practice_settings_report_caps_errors_under_message_caps() -> None:
    assert [e.loc for e in settings_errors({"messageCaps": {"perPatientPerDay": -1}})] == [
        ("messageCaps", "perPatientPerDay")
    ]
    assert settings_errors({"messageCaps": None}) == []
    assert settings_errors({"messageCaps": {"perPatientPerWeek": 3}}) == []


def test_windows_start_at_local_midnight_and_monday() -> None:
    caps = MessageCaps(per_day=1, per_week=3)
    # Wednesday 2026-12-09 01:30 in Berlin is Tuesday 2026-12-08 (UTC) 00:30 + 1 h offset
    now = datetime(2026, 12, 9, 0, 30, tzinfo=UTC)
    (day, day_cap), (week, week_cap) = window_starts(caps, now, "Europe/Berlin")
    assert (day, day_cap) == (datetime(2026, 12, 8, 23, 0, tzinfo=UTC), 1)  # 2026-12-09 00:00 CET
    assert (week, week_cap) == (datetime(2026, 12, 6, 23, 0, tzinfo=UTC), 3)  # Monday 2026-12-07 00:00 CET
    # the same instant in UTC is still Wednesday's first hour
    assert window_starts(MessageCaps(per_day=1), now, "UTC") == [(datetime(2026, 12, 9, tzinfo=UTC), 1)]
    assert window_starts(MessageCaps(), now, "UTC") == []


def test_a_day_across_a_daylight_saving_change_starts_at_its_local_midnight() -> None:
    now = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)  # Berlin went to CEST at 01:00 UTC that day
    ((start, _),) = window_starts(MessageCaps(per_day=1), now, "Europe/Berlin")
    assert start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 CET
