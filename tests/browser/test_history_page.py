"""A rule's History tab, the run's rule version and the Audit log page in headless Chromium, against
the real system; what the page shows is checked against the API's answers."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.test_automations_page import PIPELINE_MS, sign_in
from tests.support.processes import Service, wait_for
from tests.support.rules import evaluator_holds, note_rule

pytestmark = pytest.mark.e2e


def test_history_tab_diffs_and_restores_a_version(
    page: Page, services: dict[str, Service], practice, api: httpx.Client
) -> None:
    rule = note_rule(api, services["evaluator"], name="Welcome note", body="Welcome {patient.firstName}")
    changed = api.patch(
        f"/api/automations/{rule['id']}",
        json={
            "actionsJson": [{"type": "create_note", "args": {"patientId": "{patientId}", "body": "Hello"}}]
        },
    )
    assert changed.status_code == 200, changed.text

    sign_in(page, services, practice["apiKey"])
    page.locator(f'tr[data-rule-id="{rule["id"]}"]').get_by_role("button", name="Edit Welcome note").click()
    page.get_by_role("button", name="History", exact=True).click()
    expect(page.get_by_role("heading", name="History of “Welcome note”")).to_be_visible()
    rows = page.locator("#versions-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("current")
    expect(rows.nth(0)).to_contain_text("edited")
    expect(rows.nth(1)).to_contain_text("created")
    prefix = practice["apiKey"].split("_")[1]
    expect(rows.nth(1)).to_contain_text(f"API key {prefix}")
    diff = page.locator("#version-diff")
    expect(diff.locator(".diff-summary")).to_have_text("Version 1 → version 2: Actions changed.")
    expect(diff.locator(".diff-del")).to_have_text(['-       "body": "Welcome {patient.firstName}",'])
    expect(diff.locator(".diff-add")).to_have_text(['+       "body": "Hello",'])
    screenshot(page, "20-rule-history")

    # Declining the confirmation changes nothing; accepting restores version 1 as version 3.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Restore version 1").click()
    expect(rows).to_have_count(2)
    messages: list[str] = []

    def accept(dialog) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Restore version 1").click()
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("restored from version 1")
    assert messages and "becomes version 3" in messages[0]
    saved = api.get(f"/api/automations/{rule['id']}").json()
    assert (saved["version"], saved["actionsJson"]) == (3, rule["actionsJson"])
    page.get_by_role("button", name="Compare version 3 with version 2").click()
    expect(diff.locator(".diff-summary")).to_have_text("Version 2 → version 3: Actions changed.")
    wait_for(lambda: evaluator_holds(services["evaluator"], rule["id"], 3), 10, what="version 3 held")

    # The run of the next event shows the version it ran.
    api.post("/api/patients", json={"firstName": "Grace", "lastName": "Hopper"})
    run = wait_for(
        lambda: next(iter(api.get(f"/api/automations/{rule['id']}/runs").json()["items"]), None),
        PIPELINE_MS / 1000,
        what="the restored rule's run",
    )
    page.get_by_role("button", name="Run history").click()
    page.locator(f'#runs-table tr[data-run-id="{run["id"]}"]').get_by_role("button", name="Details").click()
    section = page.locator("#run-rule")
    expect(page.get_by_role("heading", name="Rule as it ran (version 3)")).to_be_visible()
    expect(section).to_contain_text("Welcome {patient.firstName}")
    screenshot(page, "21-run-rule-version")
    section.get_by_role("button", name="All versions of this rule").click()
    expect(rows).to_have_count(3)


def test_audit_page_lists_filters_and_pages(
    page: Page, services: dict[str, Service], practice, api: httpx.Client
) -> None:
    rule = note_rule(api, services["evaluator"], name="Audited")
    api.patch(f"/api/automations/{rule['id']}", json={"enabled": False})
    assert api.patch("/api/practice", json={"timeZone": "Europe/Berlin"}).status_code == 200

    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Audit log").click()
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(4)  # key created (fixture), rule created, rule disabled, settings
    expect(rows.nth(0)).to_have_attribute("data-action", "practice.settings")
    expect(rows.nth(0)).to_contain_text("timeZone")
    rows.nth(0).locator("summary").click()
    expect(rows.nth(0).locator(".audit-json")).to_contain_text("Europe/Berlin")
    screenshot(page, "22-audit-log")

    page.get_by_label("Entity").select_option("rule")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-action", "rule.disable")
    page.get_by_label("Entity").select_option("api_key")
    expect(rows).to_have_count(1)
    assert practice["apiKey"] not in page.content()

    page.get_by_label("Entity").select_option("")
    page.get_by_label("Since").fill("2999-01-01T00:00")
    page.get_by_label("Since").dispatch_event("change")
    expect(page.locator("#audit-empty")).to_be_visible()

    page.get_by_label("Since").fill("")
    page.get_by_label("Since").dispatch_event("change")
    page.get_by_label("Entity").select_option("rule")
    page.get_by_role("button", name=f"History of rule {rule['id'][:8]}").first.click()
    expect(page.get_by_role("heading", name="History of “Audited”")).to_be_visible()
