"""Timed rules on /settings/automations (SPEC section 8) in headless Chromium against the real
system: a reminder built in the form, its waiting run, the re-plan when the appointment moves, the
cancellation when it is cancelled, and the practice settings that give due times their zone.

Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import Engine, text

from tests.browser.conftest import screenshot
from tests.browser.test_automations_page import PIPELINE_MS, assert_url_is_clean, sign_in
from tests.support.processes import Service, wait_for
from tests.support.rules import evaluator_holds

pytestmark = pytest.mark.e2e

ZONE = "Europe/Berlin"
BODY = "Reminder: your {appointment.visitType} is tomorrow"
CANCELLED_PRESET = {
    "eventName": "crm/appointment.updated",
    "match": "appointment.id",
    "conditionsJson": {"field": "changes.status", "operator": "changed_to", "value": "cancelled"},
}


def db_now(engine: Engine) -> datetime:
    with engine.connect() as conn:
        now: datetime = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    return now.replace(microsecond=0)


def local_time(iso: str) -> str:
    """``HH:MM:SS`` of an instant in the practice's zone, as the run detail shows it."""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(ZONE)).strftime("%H:%M:%S")


def at_nine(instant: datetime) -> datetime:
    """09:00 in the practice's zone on the local date of ``instant`` (atLocalTime "09:00")."""
    return instant.astimezone(ZoneInfo(ZONE)).replace(hour=9, minute=0, second=0)


def run_when(api: httpx.Client, rule_id: str, ready: Callable[[dict[str, Any]], bool], what: str) -> Any:
    """The rule's (only) run, with its actions, once ``ready(run)`` holds."""

    def look() -> dict[str, Any] | None:
        items = api.get(f"/api/automations/{rule_id}/runs").json()["items"]
        run = api.get(f"/api/runs/{items[0]['id']}").json() if items else None
        return run if run is not None and ready(run) else None

    return wait_for(look, PIPELINE_MS / 1000, what=what)


def field_error(control: Locator) -> Locator:
    return control.locator("xpath=following-sibling::p[contains(@class, 'field-error')]")


def test_a_reminder_built_in_the_form_waits_moves_and_is_cancelled(
    page: Page, services: dict[str, Service], practice: dict[str, str], api: httpx.Client, engine: Engine
) -> None:
    assert api.patch("/api/practice", json={"timeZone": ZONE}).status_code == 200
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Create Rule").click()
    page.get_by_label("Name", exact=True).fill("Reminder a day before")
    page.get_by_label("Trigger event").select_option("crm/appointment.created")

    wait = page.locator(".action-card").nth(0)
    wait.get_by_label("Action", exact=True).select_option("delay_until")
    expect(wait.get_by_label("Wait for the date")).to_have_value("{appointment.startsAt}")
    wait.get_by_label("Amount", exact=True).fill("1")
    wait.get_by_label("Unit", exact=True).select_option("days")
    wait.get_by_label("Before or after").select_option("before")
    page.get_by_role("button", name="Add action").click()
    note = page.locator(".action-card").nth(1)
    note.get_by_label("Action", exact=True).select_option("create_note")
    note.get_by_label("Body").fill(BODY)
    page.get_by_role("button", name="Stop when the appointment is cancelled").click()
    stop = page.locator(".cancel-entry").nth(0)
    expect(stop.get_by_label("Stop waiting when this event arrives")).to_have_value("crm/appointment.updated")
    expect(stop.get_by_label("whose field")).to_have_value("appointment.id")
    screenshot(page, "10-reminder-rule-form")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#save-state")).to_contain_text("Saved · version 1")

    [rule] = api.get("/api/automations").json()["items"]
    assert rule["actionsJson"] == [
        {"type": "delay_until", "args": {"at": "{appointment.startsAt}", "offsetSeconds": -86400}},
        {"type": "create_note", "args": {"patientId": "{patientId}", "body": BODY}},
    ]
    assert rule["cancelOn"] == [CANCELLED_PRESET]

    # Loading the saved rule shows it back in the same controls; a time of day is a PATCH away.
    page.reload()
    expect(wait.get_by_label("Amount", exact=True)).to_have_value("1")
    expect(wait.get_by_label("Unit", exact=True)).to_have_value("days")
    expect(wait.get_by_label("Before or after")).to_have_value("before")
    expect(stop.get_by_label("whose field")).to_have_value("appointment.id")
    expect(stop.locator(".cond-leaf").get_by_label("Field", exact=True)).to_have_value("changes.status")
    wait.get_by_label("At time of day").fill("09:00")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#save-state")).to_contain_text("Saved · version 2")
    rule = api.get(f"/api/automations/{rule['id']}").json()
    assert rule["actionsJson"][0]["args"] == {
        "at": "{appointment.startsAt}",
        "offsetSeconds": -86400,
        "atLocalTime": "09:00",
    }
    assert rule["cancelOn"] == [CANCELLED_PRESET]
    wait_for(lambda: evaluator_holds(services["evaluator"], rule["id"], 2), 10, what="the evaluator's rule")

    patient = api.post("/api/patients", json={"firstName": "Rem", "lastName": "Inder"}).json()
    starts = db_now(engine) + timedelta(days=3)
    appointment = api.post(
        "/api/appointments",
        json={
            "patientId": patient["id"],
            "startsAt": starts.isoformat(),
            "visitType": "Checkup",
            "status": "scheduled",
        },
    ).json()
    run = run_when(api, rule["id"], lambda r: r["status"] == "waiting", "the reminder's run waiting")
    due = run["actions"][0]["result"]["dueAt"]
    assert datetime.fromisoformat(due) == at_nine(starts - timedelta(days=1))

    page.get_by_role("button", name="Run history").click()
    page.get_by_label("Status").select_option("waiting")
    row = page.locator(f'#runs-table tr[data-run-id="{run["id"]}"]')
    expect(row.locator(".badge")).to_have_text("waiting")
    row.get_by_role("button", name="Details").click()
    expect(page.locator("#run-due")).to_contain_text(local_time(due))
    expect(page.locator("#run-detail")).to_contain_text(f"Times in the practice's zone, {ZONE}.")
    screenshot(page, "11-reminder-waiting")

    moved = starts + timedelta(days=1, hours=2)
    response = api.patch(f"/api/appointments/{appointment['id']}", json={"startsAt": moved.isoformat()})
    assert response.status_code == 200, response.text
    replanned = run_when(
        api, rule["id"], lambda r: any(a["status"] == "rescheduled" for a in r["actions"]), "the re-plan"
    )
    [log] = [a for a in replanned["actions"] if a["status"] == "rescheduled"]
    assert datetime.fromisoformat(log["result"]["to"]) == at_nine(moved - timedelta(days=1))
    page.reload()  # history.state brings the run back
    timing = page.locator("#run-detail .timing")
    rescheduled = timing.locator("li[data-kind=rescheduled]")
    expect(rescheduled).to_contain_text(local_time(log["result"]["to"]))
    expect(rescheduled).to_contain_text(log["result"]["eventId"])
    expect(page.locator("#run-due")).to_contain_text(local_time(log["result"]["to"]))
    screenshot(page, "12-reminder-replanned")

    response = api.patch(f"/api/appointments/{appointment['id']}", json={"status": "cancelled"})
    assert response.status_code == 200, response.text
    cancelled = run_when(api, rule["id"], lambda r: r["status"] == "cancelled", "the cancellation")
    [skipped] = [a for a in cancelled["actions"] if a["status"] == "skipped"]
    page.reload()
    expect(page.locator("#run-detail .facts .badge")).to_have_text("cancelled")
    expect(page.locator("#run-due")).to_have_count(0)
    expect(timing.locator("li[data-kind=cancelled]")).to_contain_text(skipped["result"]["eventId"])
    expect(page.locator("#run-detail .actions-log tbody tr[data-status=skipped]")).to_have_count(1)
    screenshot(page, "13-reminder-cancelled")
    assert_url_is_clean(page, services)


def test_the_settings_panel_saves_the_zone_and_quiet_hours(
    page: Page, services: dict[str, Service], practice: dict[str, str], api: httpx.Client
) -> None:
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Practice settings").click()
    zone = page.get_by_label("Time zone")
    expect(zone).to_have_value("UTC")
    expect(page.get_by_label("From", exact=True)).to_be_disabled()

    zone.fill("Mars/Olympus_Mons")
    saving = page.expect_response(lambda r: r.url.endswith("/api/practice") and r.request.method == "PATCH")
    with saving as sent:
        page.get_by_role("button", name="Save settings").click()
    assert sent.value.status == 422
    [error] = sent.value.json()["detail"]
    assert error["loc"] == ["body", "timeZone"]
    expect(zone).to_have_attribute("aria-invalid", "true")
    expect(field_error(zone)).to_have_text(error["msg"])
    screenshot(page, "14-practice-settings-error")
    assert api.get("/api/practice").json()["timeZone"] == "UTC"

    zone.fill(ZONE)
    page.get_by_label("No e-mail or SMS between these times").check()
    page.get_by_label("From", exact=True).fill("21:30")
    page.get_by_label("until", exact=True).fill("07:45")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#practice-state")).to_have_text("Saved.")
    expect(zone).not_to_have_attribute("aria-invalid", "true")
    saved = api.get("/api/practice").json()
    assert (saved["timeZone"], saved["quietHours"]) == (ZONE, {"start": "21:30", "end": "07:45"})
    screenshot(page, "15-practice-settings-saved")

    page.get_by_label("No e-mail or SMS between these times").uncheck()
    page.get_by_role("button", name="Save settings").click()
    wait_for(lambda: api.get("/api/practice").json()["quietHours"] is None, 5, what="quiet hours off")
    assert_url_is_clean(page, services)


def test_a_cancel_on_error_shows_next_to_its_field(
    page: Page, services: dict[str, Service], practice: dict[str, str], api: httpx.Client
) -> None:
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Create Rule").click()
    page.get_by_label("Name", exact=True).fill("Stops on a field no event has")
    page.get_by_label("Trigger event").select_option("crm/appointment.created")
    step = page.locator(".action-card").nth(0)
    step.get_by_label("Action", exact=True).select_option("create_task")
    step.get_by_label("Title").fill("Prepare the visit")
    page.get_by_role("button", name="Add stop event").click()
    stop = page.locator(".cancel-entry").nth(0)
    stop.get_by_label("Stop waiting when this event arrives").select_option("crm/appointment.updated")
    match = stop.get_by_label("whose field")
    match.fill("appointment.nope")

    saving = page.expect_response(lambda r: r.url.endswith("/api/automations") and r.request.method == "POST")
    with saving as sent:
        page.get_by_role("button", name="Save rule").click()
    assert sent.value.status == 422
    detail: list[dict[str, Any]] = sent.value.json()["detail"]
    assert {tuple(e["loc"]) for e in detail} == {("body", "cancelOn", 0, "match")}
    expect(match).to_have_attribute("aria-invalid", "true")
    for error in detail:  # one for each event the path can never resolve for
        expect(field_error(match).filter(has_text=error["msg"])).to_have_count(1)
    expect(page.locator("#form-errors")).to_contain_text("whose field")
    screenshot(page, "16-cancel-on-error")
    assert api.get("/api/automations").json()["total"] == 0

    # At most five stop events (the catalog's limit, the API's).
    for _ in range(4):
        page.get_by_role("button", name="Add stop event").click()
    expect(page.locator(".cancel-entry")).to_have_count(5)
    expect(page.get_by_role("button", name="Add stop event")).to_be_disabled()
    expect(page.get_by_role("button", name="Stop when the appointment is cancelled")).to_be_disabled()
