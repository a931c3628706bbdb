"""Practice settings (SPEC section 8) on the running rules-api: defaults, changes, 422s at the field,
each key sees its own practice; the CLI writes through the same check."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.support.api import locs
from tests.support.processes import ROOT

pytestmark = pytest.mark.e2e


def test_defaults_then_zone_and_quiet_hours(api: httpx.Client, practice: dict[str, str]) -> None:
    fresh = api.get("/api/practice")
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert set(body) == {"id", "name", "timeZone", "quietHours", "messageCaps", "createdAt", "updatedAt"}
    assert (body["id"], body["timeZone"], body["quietHours"]) == (practice["id"], "UTC", None)
    assert body["name"].startswith("Test practice")

    night = {"start": "21:00", "end": "08:00"}
    changed = api.patch("/api/practice", json={"timeZone": "Europe/Berlin", "quietHours": night})
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert (after["timeZone"], after["quietHours"], after["createdAt"]) == (
        "Europe/Berlin",
        night,
        body["createdAt"],
    )
    assert datetime.fromisoformat(after["updatedAt"]) > datetime.fromisoformat(body["updatedAt"])
    assert api.get("/api/practice").json() == after

    # Partial: only what is sent changes; the same values again change nothing, not even updatedAt.
    assert api.patch("/api/practice", json={}).json() == after
    assert api.patch("/api/practice", json={"timeZone": "Europe/Berlin"}).json() == after
    zone_only = api.patch("/api/practice", json={"timeZone": "America/New_York"}).json()
    assert (zone_only["timeZone"], zone_only["quietHours"]) == ("America/New_York", night)
    cleared = api.patch("/api/practice", json={"quietHours": None}).json()
    assert (cleared["timeZone"], cleared["quietHours"]) == ("America/New_York", None)


def test_bad_values_answer_422_at_their_field_and_change_nothing(api: httpx.Client) -> None:
    before = api.get("/api/practice").json()
    assert locs(api.patch("/api/practice", json={"timeZone": "Mars/Olympus_Mons"})) == [["body", "timeZone"]]
    assert locs(api.patch("/api/practice", json={"timeZone": None})) == [["body", "timeZone"]]
    bad_start = {"quietHours": {"start": "25:00", "end": "08:00"}}
    assert locs(api.patch("/api/practice", json=bad_start)) == [["body", "quietHours", "start"]]
    assert locs(api.patch("/api/practice", json={"quietHours": {"start": "9:00", "end": "8pm"}})) == [
        ["body", "quietHours", "start"],
        ["body", "quietHours", "end"],
    ]
    assert locs(api.patch("/api/practice", json={"quietHours": {"start": "08:00", "end": "08:00"}})) == [
        ["body", "quietHours"]
    ]
    assert locs(api.patch("/api/practice", json={"quietHours": {"start": "21:00"}})) == [
        ["body", "quietHours", "end"]
    ]
    assert locs(api.patch("/api/practice", json={"name": "Renamed"})) == [["body", "name"]]
    # Several problems at once, each at its path, in the API's 422 shape.
    response = api.patch(
        "/api/practice", json={"timeZone": "Nowhere", "quietHours": {"start": "x", "end": "08:00"}}
    )
    detail = response.json()["detail"]
    assert [e["loc"] for e in detail] == [["body", "timeZone"], ["body", "quietHours", "start"]]
    assert all({"loc", "msg", "type"} <= set(e) for e in detail)
    assert "Europe/Berlin" in detail[0]["msg"]  # says what a valid value looks like
    assert api.get("/api/practice").json() == before


def test_each_key_sees_and_changes_its_own_practice(
    api: httpx.Client, other: httpx.Client, practice: dict[str, str]
) -> None:
    assert api.patch("/api/practice", json={"timeZone": "Asia/Tokyo"}).status_code == 200
    theirs = other.get("/api/practice").json()
    assert theirs["id"] != practice["id"] and theirs["timeZone"] == "UTC"
    assert other.patch("/api/practice", json={"timeZone": "Australia/Sydney"}).status_code == 200
    assert api.get("/api/practice").json()["timeZone"] == "Asia/Tokyo"
    assert httpx.get(f"{api.base_url}/api/practice").status_code == 401


def test_the_cli_sets_the_same_settings(api: httpx.Client, practice: dict[str, str], engine: Engine) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crmflow", "practice", "set", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )

    done = cli("--practice", practice["id"], "--time-zone", "Europe/Berlin", "--quiet-hours", "21:00-08:00")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    night = {"start": "21:00", "end": "08:00"}
    assert (printed["timeZone"], printed["quietHours"]) == ("Europe/Berlin", night)
    assert api.get("/api/practice").json() == printed

    cleared = cli("--practice", practice["id"], "--quiet-hours", "none")
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(cleared.stdout)["quietHours"] is None
    with engine.connect() as conn:  # cleared is SQL NULL, not a JSON null
        query = text("SELECT quiet_hours IS NULL FROM practices WHERE id = CAST(:id AS uuid)")
        stored = conn.execute(query, {"id": practice["id"]}).scalar_one()
    assert stored is True

    unknown = cli("--practice", practice["id"], "--time-zone", "Mars/Olympus_Mons")
    assert unknown.returncode == 2 and "timeZone: unknown time zone" in unknown.stderr
    missing = cli("--practice", str(uuid.uuid4()), "--time-zone", "UTC")
    assert missing.returncode == 2 and "no practice" in missing.stderr
    assert api.get("/api/practice").json()["timeZone"] == "Europe/Berlin"
