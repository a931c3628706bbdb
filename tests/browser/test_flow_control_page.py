"""Flow control on /settings/automations (SPEC section 13) in headless Chromium against the real
system: enrollment and pause on the rule form (a bad key shown at its field), and bulk cancel from
the run history's filtered view, after a confirmation.

Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.browser.conftest import screenshot
from tests.browser.test_automations_page import PIPELINE_MS, sign_in
from tests.support.processes import Service, wait_for
from tests.support.rules import create_rule

pytestmark = pytest.mark.e2e
UPDATED = "crm/appointment.updated"
NOTE = {"type": "create_note", "args": {"patientId": "{patientId}", "body": "edited"}}


def test_enrollment_and_pause_are_edited_on_the_rule_form(
    page: Page, services: dict[str, Service], practice: dict[str, str], api: httpx.Client
) -> None:
    rule = create_rule(
        api, services["evaluator"], name="One per appointment", triggerEvent=UPDATED, actionsJson=[NOTE]
    )
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Edit One per appointment").click()
    expect(page.get_by_label("Runs per key")).to_have_value("always")
    expect(page.get_by_label("Key", exact=True)).to_be_disabled()

    page.get_by_label("Runs per key").select_option("never")
    page.get_by_label("Key", exact=True).fill("appointment.nothing")
    with page.expect_response(lambda r: r.request.method == "PATCH") as sent:
        page.get_by_role("button", name="Save rule").click()
    assert sent.value.status == 422
    key = page.get_by_label("Key", exact=True)
    expect(key).to_have_attribute("aria-invalid", "true")
    expect(key.locator("xpath=following-sibling::p[contains(@class, 'field-error')]")).to_contain_text(
        "can never resolve"
    )

    key.fill("appointment.id")
    page.get_by_label("Pause", exact=True).select_option("hold")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#save-state")).to_contain_text("version 2")
    saved = api.get(f"/api/automations/{rule['id']}").json()
    assert (saved["enrollment"], saved["paused"]) == ({"key": "appointment.id", "reenroll": "never"}, "hold")
    screenshot(page, "flow-control-form")

    page.get_by_role("button", name="Back to rules").click()
    row = page.locator(f'tr[data-rule-id="{rule["id"]}"]')
    expect(row.locator(".paused-badge")).to_have_text("paused: hold")
    page.get_by_role("button", name="Edit One per appointment").click()
    expect(page.get_by_label("Pause", exact=True)).to_have_value("hold")
    page.get_by_label("Pause", exact=True).select_option("")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#save-state")).to_contain_text("version 3")
    expect(page.get_by_text("Rule resumed: its held runs now run")).to_be_visible()
    assert api.get(f"/api/automations/{rule['id']}").json()["paused"] is None

    page.reload()  # what was saved shows again
    page.get_by_role("button", name="Rules", exact=True).click()
    page.get_by_role("button", name="Edit One per appointment").click()
    expect(page.get_by_label("Runs per key")).to_have_value("never")
    expect(page.get_by_label("Key", exact=True)).to_have_value("appointment.id")
    expect(page.get_by_label("Pause", exact=True)).to_have_value("")


def test_bulk_cancel_from_the_filtered_history_after_a_confirmation(
    page: Page, services: dict[str, Service], practice: dict[str, str], api: httpx.Client
) -> None:
    delay = {"type": "delay_seconds", "args": {"seconds": 3600}}
    rule = create_rule(
        api, services["evaluator"], name="Slow follow-up", triggerEvent=UPDATED, actionsJson=[delay, NOTE]
    )
    patient = api.post("/api/patients", json={"firstName": "Bea", "lastName": "Bulk"}).json()
    appointment = api.post(
        "/api/appointments",
        json={
            "patientId": patient["id"],
            "startsAt": "2030-01-01T09:00:00Z",
            "visitType": "Checkup",
            "status": "scheduled",
        },
    ).json()
    for provider in ("Dr A", "Dr B"):
        api.patch(f"/api/appointments/{appointment['id']}", json={"provider": provider})
    wait_for(
        lambda: api.get("/api/runs", params={"ruleId": rule["id"], "status": "waiting"}).json()["total"] == 2,
        PIPELINE_MS / 1000,
        what="two waiting runs",
    )

    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Run history").click()
    page.get_by_label("Rule", exact=True).select_option(rule["id"])
    page.get_by_label("Status", exact=True).select_option("failed")
    expect(page.get_by_role("button", name="Cancel matching runs…")).to_be_hidden()
    expect(page.get_by_role("button", name="Retry matching runs…")).to_be_visible()
    page.get_by_label("Status", exact=True).select_option("waiting")
    expect(page.get_by_role("button", name="Retry matching runs…")).to_be_hidden()
    expect(page.locator("#runs-table tbody tr")).to_have_count(2)

    questions: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Cancel matching runs…").click()
    wait_for(lambda: questions, 5, what="the confirmation")
    assert "waiting runs of the rule “Slow follow-up”" in questions[0]
    assert api.get("/api/runs", params={"ruleId": rule["id"], "status": "waiting"}).json()["total"] == 2

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel matching runs…").click()
    expect(page.locator("#bulk-state")).to_have_text("cancel done: 2 of 2 matching runs cancelled.")
    expect(page.locator("#runs-table tbody tr")).to_have_count(0)
    screenshot(page, "flow-control-bulk-cancel")
    cancelled = api.get("/api/runs", params={"ruleId": rule["id"], "status": "cancelled"}).json()
    assert cancelled["total"] == 2
