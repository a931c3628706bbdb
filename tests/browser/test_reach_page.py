"""Reach on /settings/automations (SPEC section 9) in headless Chromium against the real system: the
action editor offers send_email and send_sms and saves one; its run detail shows the delivery's
outcome; a patient's drafts are sent with a confirmed Send (sent), or fail with the reason.

Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.test_automations_page import PIPELINE_MS, sign_in
from tests.support.processes import Service, wait_for
from tests.support.reach import ReachServers
from tests.support.rules import create_rule, evaluator_holds

pytestmark = pytest.mark.e2e


def new_patient(api: httpx.Client, **values: Any) -> dict[str, Any]:
    response = api.post("/api/patients", json={"firstName": "Grace", "lastName": "Page", **values})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_send_email_rule_built_in_the_form_and_its_delivery(
    page: Page, services: dict[str, Service], practice, api: httpx.Client, reach: ReachServers
) -> None:
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Create Rule").click()
    page.get_by_label("Name", exact=True).fill("Welcome e-mail")
    page.get_by_label("Trigger event").select_option("crm/patient.created")
    card = page.locator(".action-card").nth(0)
    action = card.get_by_label("Action", exact=True)
    offered = action.locator("option").all_inner_texts()
    assert {"send_email", "send_sms"} <= set(offered)
    action.select_option("send_email")
    card.get_by_label("Patient id").fill("{patientId}")
    card.get_by_label("Subject").fill("Welcome {patient.firstName}")
    card.get_by_label("Body").fill("We look forward to seeing you.")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#save-state")).to_contain_text("Saved")
    (rule,) = api.get("/api/automations").json()["items"]
    assert rule["actionsJson"] == [
        {
            "type": "send_email",
            "args": {
                "patientId": "{patientId}",
                "subject": "Welcome {patient.firstName}",
                "body": "We look forward to seeing you.",
            },
        }
    ]
    address = f"g{uuid.uuid4().hex[:10]}@example.test"
    wait_for(lambda: _holds(services, rule), 10, what="the evaluator to hold the rule")
    patient = new_patient(api, email=address, emailOptIn=True)

    def succeeded() -> str | None:
        items = api.get(f"/api/automations/{rule['id']}/runs").json()["items"]
        return items[0]["id"] if items and items[0]["status"] == "succeeded" else None

    run_id = wait_for(succeeded, PIPELINE_MS / 1000, what="the run")
    assert reach.smtp.sink.to(address)[0]["Subject"] == "Welcome Grace"
    page.get_by_role("button", name="Run history").click()
    page.get_by_role("button", name="Details").first.click()
    deliveries = page.locator("#run-deliveries tbody tr")
    expect(deliveries).to_have_count(1)
    expect(deliveries.first).to_have_attribute("data-status", "delivered")
    expect(deliveries.first).to_contain_text(f"<{run_id}.0@crmflow.test>")
    expect(page.locator("#run-detail")).not_to_contain_text(address)
    screenshot(page, "reach-01-run-with-delivery")
    assert patient["emailOptIn"] is True


def _holds(services: dict[str, Service], rule: dict[str, Any]) -> bool:
    return evaluator_holds(services["evaluator"], rule["id"], rule["version"])


def test_a_patients_drafts_are_sent_after_confirmation(
    page: Page, services: dict[str, Service], practice, api: httpx.Client, reach: ReachServers
) -> None:
    rule = create_rule(
        api,
        services["evaluator"],
        triggerEvent="crm/patient.created",
        actionsJson=[
            {
                "type": "draft_email",
                "args": {"patientId": "{patientId}", "subject": "Results", "body": "Ready"},
            },
            {"type": "draft_sms", "args": {"patientId": "{patientId}", "body": "Results ready"}},
        ],
    )
    address = f"g{uuid.uuid4().hex[:10]}@example.test"
    patient = new_patient(api, email=address, phone="+15550002222", emailOptIn=True)  # no SMS consent
    wait_for(lambda: len(api.get(f"/api/patients/{patient['id']}/drafts").json()) == 2, 30, what="drafts")
    assert rule["id"]

    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Drafts").click()
    page.locator("#view-drafts").get_by_label("Patient ID").fill(patient["id"])
    page.get_by_role("button", name="Show drafts").click()
    rows = page.locator("#drafts-table tbody tr")
    expect(rows).to_have_count(2)
    email_row = page.locator("#drafts-table tbody tr", has_text="email")
    email_row.get_by_role("button", name="Send").click()
    expect(email_row).to_contain_text("Send this e-mail to the patient now?")
    screenshot(page, "reach-02-confirm-send")
    email_row.get_by_role("button", name="Confirm send").click()
    sent = page.locator("#drafts-table tbody tr[data-status=sent]")
    expect(sent).to_have_count(1)
    expect(sent).to_contain_text("Results")
    (mail,) = reach.smtp.sink.to(address)
    assert mail["Subject"] == "Results"

    sms_row = page.locator("#drafts-table tbody tr", has_text="Results ready")
    sms_row.get_by_role("button", name="Send").click()
    sms_row.get_by_role("button", name="Confirm send").click()
    failed = page.locator("#drafts-table tbody tr[data-status=failed]")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("no_consent")
    expect(failed.get_by_role("button", name="Send again")).to_be_visible()
    screenshot(page, "reach-03-drafts-sent-and-failed")
    assert reach.sms.to("+15550002222") == []
