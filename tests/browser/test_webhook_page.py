"""send_webhook in the action editor (SPEC section 9) in headless Chromium against the real
rules-api: URL, body with placeholders and headers; "Send test request" shows the signed request
of the dry run (which a Standard Webhooks library verifies) and sends nothing; a refused address
shows next to the URL. Screenshots land in test-artifacts/screenshots/."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import standardwebhooks
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.test_automations_page import sign_in
from tests.support.processes import Service
from tests.support.webhook_receiver import receiver

pytestmark = pytest.mark.e2e


def test_a_webhook_step_shows_its_signed_test_request_without_sending(
    page: Page, services: dict[str, Service], practice: dict[str, str], api: httpx.Client
) -> None:
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Create Rule").click()
    page.get_by_label("Name", exact=True).fill("Tell the billing system")
    page.get_by_label("Trigger event").select_option("crm/patient.created")
    step = page.locator(".action-card").nth(0)
    step.get_by_label("Action", exact=True).select_option("send_webhook")

    with receiver() as hook:
        step.get_by_label("Url").fill(hook.url("/patients/{patientId}"))
        step.get_by_label("Body").fill('{"patient": "{patient.id}", "status": "{patient.status}"}')
        step.get_by_label("Headers").fill('{"Authorization": "Bearer billing-token"}')

        # No secret yet: the dry run says so, next to the button.
        step.get_by_role("button", name="Send test request").click()
        expect(step.locator(".webhook-test-result")).to_contain_text("no webhook secret")

        secret = api.post("/api/practice/webhook-secret").json()["secret"]
        with page.expect_response(lambda r: r.url.endswith("/api/webhooks/test")) as answer:
            step.get_by_role("button", name="Send test request").click()
        request: dict[str, Any] = answer.value.json()
        shown = step.locator("pre.webhook-request")
        expect(shown).to_contain_text("POST " + hook.url("/patients/"))
        expect(shown).to_contain_text("webhook-signature: v1,")
        expect(shown).to_contain_text("Authorization: Bearer billing-token")
        expect(step.locator(".webhook-test-result")).to_contain_text("Not sent")
        screenshot(page, "30-webhook-test-request")
        standardwebhooks.Webhook(secret).verify(
            request["body"].encode(), request["headers"], json_parse=False
        )
        sample = json.loads(page.locator("#sample-data").input_value())
        assert json.loads(request["body"]) == {
            "patient": sample["patient"]["id"],
            "status": sample["patient"]["status"],
        }
        assert hook.requests == []  # a dry run sends nothing

        page.get_by_role("button", name="Save rule").click()
        expect(page.get_by_text("Saved · version 1")).to_be_visible()
    [rule] = api.get("/api/automations").json()["items"]
    assert rule["actionsJson"][0]["type"] == "send_webhook"
    assert rule["actionsJson"][0]["args"]["headers"] == {"Authorization": "Bearer billing-token"}


def test_a_refused_address_shows_next_to_the_url(
    page: Page, services: dict[str, Service], practice: dict[str, str], api: httpx.Client
) -> None:
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Create Rule").click()
    page.get_by_label("Name", exact=True).fill("Into the cloud's metadata")
    step = page.locator(".action-card").nth(0)
    step.get_by_label("Action", exact=True).select_option("send_webhook")
    url = step.get_by_label("Url")
    url.fill("https://169.254.169.254/latest/meta-data")
    step.get_by_role("button", name="Send test request").click()
    expect(step.locator(".webhook-test-result")).to_contain_text("metadata address")
    with page.expect_response(lambda r: r.url.endswith("/api/automations")) as saved:
        page.get_by_role("button", name="Save rule").click()
    assert saved.value.status == 422
    expect(url).to_have_attribute("aria-invalid", "true")
    screenshot(page, "31-webhook-refused-address")
    assert api.get("/api/automations").json()["total"] == 0
