"""wait_for_event and ``when`` on /settings/automations (SPEC section 13) in headless Chromium
against the real system: "wait for the confirmation, else a call task" built in the form, saved,
shown back, and its run resumed by the confirmation.

Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.test_automations_page import fill_leaf, sign_in
from tests.browser.test_timed_rules_page import run_when
from tests.support.processes import Service, wait_for
from tests.support.rules import evaluator_holds

pytestmark = pytest.mark.e2e


def test_a_confirmation_rule_built_in_the_form(
    page: Page, services: dict[str, Service], practice: dict[str, str], api: httpx.Client
) -> None:
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Create Rule").click()
    page.get_by_label("Name", exact=True).fill("Confirm or call")
    page.get_by_label("Trigger event").select_option("crm/appointment.created")

    wait = page.locator(".action-card").nth(0)
    wait.get_by_label("Action", exact=True).select_option("wait_for_event")
    wait.get_by_label("Wait for the event").select_option("crm/appointment.updated")
    wait.get_by_label("whose field equals the trigger's").fill("appointment.id")
    wait.get_by_label("Wait at most").fill("30")
    wait.get_by_label("Timeout unit").select_option("minutes")
    wait.locator(".wait-conditions").get_by_role("button", name="Add condition").click()
    fill_leaf(wait.locator(".wait-conditions .cond-leaf").nth(0), "appointment.status", "equals", "confirmed")

    page.get_by_role("button", name="Add action").click()
    task = page.locator(".action-card").nth(1)
    task.get_by_label("Action", exact=True).select_option("create_task")
    task.get_by_label("Title").fill("Call to confirm")
    task.locator("details.when summary").click()
    task.locator(".when-conditions").get_by_role("button", name="Add condition").click()
    fill_leaf(task.locator(".when-conditions .cond-leaf").nth(0), "waitedEvent", "not_exists")
    screenshot(page, "20-wait-for-event-form")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#save-state")).to_contain_text("Saved · version 1")

    [rule] = api.get("/api/automations").json()["items"]
    assert rule["actionsJson"] == [
        {
            "type": "wait_for_event",
            "args": {
                "eventName": "crm/appointment.updated",
                "match": "appointment.id",
                "conditionsJson": {"field": "appointment.status", "operator": "equals", "value": "confirmed"},
                "timeoutSeconds": 1800,
                "onTimeout": "continue",
            },
        },
        {
            "type": "create_task",
            "args": {"title": "Call to confirm"},
            "when": {"field": "waitedEvent", "operator": "not_exists"},
        },
    ]

    # Shown back in the same controls after a reload.
    page.reload()
    expect(wait.get_by_label("Wait at most")).to_have_value("30")
    expect(wait.get_by_label("Timeout unit")).to_have_value("minutes")
    expect(wait.get_by_label("whose field equals the trigger's")).to_have_value("appointment.id")
    expect(task.locator(".when-conditions .cond-leaf").get_by_label("Field", exact=True)).to_have_value(
        "waitedEvent"
    )

    # A bad timeout is refused by the API next to its field.
    wait.get_by_label("Wait at most").fill("0")
    page.get_by_role("button", name="Save rule").click()
    expect(wait.get_by_label("Wait at most")).to_have_attribute("aria-invalid", "true")
    wait.get_by_label("Wait at most").fill("30")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#save-state")).to_contain_text("Saved · version 2")
    wait_for(lambda: evaluator_holds(services["evaluator"], rule["id"], 2), 10, what="the evaluator's rule")

    patient = api.post("/api/patients", json={"firstName": "Con", "lastName": "Firm"}).json()
    appointment = api.post(
        "/api/appointments",
        json={
            "patientId": patient["id"],
            "startsAt": "2031-02-03T10:00:00Z",
            "visitType": "Checkup",
            "status": "scheduled",
        },
    ).json()
    waiting = run_when(api, rule["id"], lambda r: r["status"] == "waiting", "the run waiting")
    page.get_by_role("button", name="Run history").click()
    page.get_by_label("Status").select_option("waiting")
    page.locator(f'#runs-table tr[data-run-id="{waiting["id"]}"]').get_by_role(
        "button", name="Details"
    ).click()
    expect(page.locator("#run-detail .timing li[data-kind=scheduled]")).to_contain_text("Waits for an event")
    expect(page.locator("#run-due")).to_be_visible()
    assert (
        api.patch(f"/api/appointments/{appointment['id']}", json={"status": "confirmed"}).status_code == 200
    )
    run = run_when(api, rule["id"], lambda r: r["status"] == "succeeded", "the confirmation")
    assert [(a["type"], a["status"]) for a in run["actions"]] == [
        ("wait_for_event", "scheduled"),
        ("wait_for_event", "succeeded"),
        ("create_task", "skipped"),
    ]
    page.get_by_role("button", name="Run history").click()
    page.get_by_label("Status").select_option("")
    row = page.locator(f'#runs-table tr[data-run-id="{run["id"]}"]')
    row.get_by_role("button", name="Details").click()
    expect(page.locator("#run-detail .actions-log tbody tr[data-status=skipped]")).to_have_count(1)
    screenshot(page, "21-wait-for-event-run")
