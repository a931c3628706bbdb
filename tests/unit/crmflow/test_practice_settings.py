"""The check every writer of practice settings goes through (rules-api and CLI)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from crmflow.cli import _quiet_hours, build_parser, main
from crmflow.practice_settings import settings_errors


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"timeZone": "Europe/Berlin"},
        {"timeZone": "UTC", "quietHours": None},
        {"quietHours": {"start": "21:00", "end": "08:00"}},
        {"quietHours": {"start": "12:00", "end": "13:30"}},
    ],
)
def test_valid_settings(values: dict[str, Any]) -> None:
    assert settings_errors(values) == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"timeZone": "Mars/Olympus"}, [("timeZone",)]),
        ({"timeZone": "europe/berlin"}, [("timeZone",)]),
        ({"timeZone": None}, [("timeZone",)]),
        ({"timeZone": 1}, [("timeZone",)]),
        ({"quietHours": {"start": "9pm", "end": "08:00"}}, [("quietHours", "start")]),
        ({"quietHours": {"start": "21:00", "end": "24:00"}}, [("quietHours", "end")]),
        ({"quietHours": {"start": "21:00", "end": "21:00"}}, [("quietHours",)]),
        ({"quietHours": "21:00-08:00"}, [("quietHours",)]),
        ({"name": "x", "timeZone": "Nowhere"}, [("name",), ("timeZone",)]),
    ],
)
def test_invalid_settings_are_reported_at_their_field(
    values: dict[str, Any], expected: list[tuple[str, ...]]
) -> None:
    errors = settings_errors(values)
    assert [e.loc for e in errors] == expected
    assert all(e.msg for e in errors)


def test_the_cli_reads_quiet_hours_as_a_range_or_none() -> None:
    assert _quiet_hours("21:00-08:00") == {"start": "21:00", "end": "08:00"}
    assert _quiet_hours("none") is None
    with pytest.raises(argparse.ArgumentTypeError):
        _quiet_hours("21:00")
    args = build_parser().parse_args(["practice", "set", "--practice", "p", "--time-zone", "Europe/Berlin"])
    assert args.time_zone == "Europe/Berlin"


def test_the_cli_refuses_to_set_nothing_before_touching_the_database(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["practice", "set", "--practice", "00000000-0000-0000-0000-000000000000"]) == 2
    assert "nothing to set" in capsys.readouterr().err
