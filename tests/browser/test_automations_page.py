"""/settings/automations in headless Chromium against the real system (rules-api, evaluator,
runner, PostgreSQL, Kafka, Debezium): what practice staff do, checked against the API's own answers.

Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import screenshot
from tests.support.processes import Service, wait_for
from tests.support.rules import create_rule, note_rule

pytestmark = pytest.mark.e2e

PIPELINE_MS = 30_000


def sign_in(page: Page, services: dict[str, Service], api_key: str) -> None:
    page.goto(f"{services['api'].url}/settings/automations")
    page.get_by_label("Practice API key").fill(api_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Automation rules")).to_be_visible()


def leaf(page: Page, index: int, scope: Locator | None = None) -> Locator:
    return (scope or page.locator("#condition-builder")).locator(".cond-leaf").nth(index)


def fill_leaf(row: Locator, field: str, operator: str, value: str | None = None) -> None:
    row.get_by_label("Field", exact=True).fill(field)
    row.get_by_label("Operator", exact=True).select_option(operator)
    if value is not None:
        row.get_by_label("Value", exact=True).fill(value)


def assert_url_is_clean(page: Page, services: dict[str, Service]) -> None:
    """Navigation keeps ids in history.state: the URL never carries ids or patient data."""
    assert page.url == f"{services['api'].url}/settings/automations"


def test_sign_in_keeps_the_key_in_the_tab_only(page: Page, services: dict[str, Service], practice) -> None:
    page.goto(f"{services['api'].url}/settings/automations")
    screenshot(page, "00-sign-in")
    page.get_by_label("Practice API key").fill("cf_not_a_real_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_have_text("That API key was not accepted.")

    page.get_by_label("Practice API key").fill(practice["apiKey"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Automation rules")).to_be_visible()
    storage = page.evaluate("() => [Object.values(sessionStorage), localStorage.length, document.cookie]")
    assert storage == [[practice["apiKey"]], 0, ""]
    assert_url_is_clean(page, services)

    page.reload()  # same tab: still signed in
    expect(page.get_by_role("heading", name="Automation rules")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_create_a_rule_through_the_form_and_test_it(
    page: Page, services: dict[str, Service], practice, api: httpx.Client
) -> None:
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Create Rule").click()
    page.get_by_label("Name", exact=True).fill("Welcome call for new patients")
    page.get_by_label("Trigger event").select_option("crm/patient.created")

    # patient.tags contains "new-patient" AND (patient.email exists OR patient.phone exists)
    page.get_by_role("button", name="Add condition").click()
    expect(leaf(page, 0).get_by_label("Field", exact=True)).to_be_focused()  # keyboard users go on typing
    fill_leaf(leaf(page, 0), "patient.tags", "contains", "new-patient")
    page.get_by_role("button", name="Add group").click()
    group = page.locator(".cond-group.nested")
    fill_leaf(leaf(page, 0, group), "patient.email", "exists")
    group.get_by_role("button", name="Add condition").click()
    fill_leaf(leaf(page, 1, group), "patient.phone", "exists")

    # two tasks, the second moved up to be the first step
    page.locator(".action-card").nth(0).get_by_label("Title").fill("Call {patient.firstName} to welcome them")
    page.get_by_role("button", name="Add action").click()
    second = page.locator(".action-card").nth(1)
    second.get_by_label("Action", exact=True).select_option("create_task")
    second.get_by_label("Title").fill("Check insurance of {patient.lastName}")
    second.get_by_label("Due in seconds").fill("3600")
    page.get_by_role("button", name="Move step 2 up").click()

    page.get_by_role("button", name="Preview conditions").click()
    expect(page.locator("#dry-run-result")).to_contain_text("Matches: the actions would run.")
    screenshot(page, "01-rule-form-with-preview")

    page.get_by_role("button", name="Test", exact=True).click()
    card = page.locator("#editor-test .run-card")
    expect(card).to_have_attribute("data-status", "succeeded", timeout=PIPELINE_MS)
    expect(card.locator("tbody tr")).to_have_count(2)
    expect(card.locator("tbody tr[data-status=succeeded]")).to_have_count(2)
    screenshot(page, "02-test-result")

    # What the form saved is what was built, and the run shown is the API's run.
    rules = api.get("/api/automations").json()["items"]
    assert [r["name"] for r in rules] == ["Welcome call for new patients"]
    rule = rules[0]
    assert rule["triggerEvent"] == "crm/patient.created"
    assert rule["conditionsJson"] == {
        "operator": "and",
        "conditions": [
            {"field": "patient.tags", "operator": "contains", "value": "new-patient"},
            {
                "operator": "or",
                "conditions": [
                    {"field": "patient.email", "operator": "exists"},
                    {"field": "patient.phone", "operator": "exists"},
                ],
            },
        ],
    }
    assert rule["actionsJson"] == [
        {
            "type": "create_task",
            "args": {"title": "Check insurance of {patient.lastName}", "dueInSeconds": 3600},
        },
        {"type": "create_task", "args": {"title": "Call {patient.firstName} to welcome them"}},
    ]
    run = api.get(f"/api/runs/{card.get_attribute('data-run-id')}").json()
    assert (run["ruleId"], run["status"]) == (rule["id"], "succeeded")
    assert [(a["type"], a["status"]) for a in run["actions"]] == [("create_task", "succeeded")] * 2

    page.get_by_role("button", name="Rules", exact=True).click()
    row = page.locator(f'tr[data-rule-id="{rule["id"]}"]')
    expect(row.locator(".badge")).to_have_text("succeeded")
    expect(row.locator("td.num")).to_have_text("1")
    screenshot(page, "03-rules-list")

    row.get_by_role("button", name="History of Welcome call for new patients").click()
    expect(page.get_by_label("Rule", exact=True)).to_have_value(rule["id"])
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    page.go_back()

    # Editing shows what was saved, steps in their order.
    row.get_by_role("button", name="Edit Welcome call for new patients").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Welcome call for new patients")
    expect(leaf(page, 1).get_by_label("Field", exact=True)).to_have_value("patient.email")
    expect(page.locator(".action-card").nth(0).get_by_label("Due in seconds")).to_have_value("3600")
    page.get_by_role("button", name="Back to rules").click()

    row.get_by_label("Enabled: Welcome call for new patients").uncheck()
    expect(row.locator(".switch")).to_have_text("off")
    wait_for(lambda: not api.get(f"/api/automations/{rule['id']}").json()["enabled"], 5, what="the rule off")
    assert_url_is_clean(page, services)


def test_an_invalid_condition_shows_the_api_error_next_to_the_field(
    page: Page, services: dict[str, Service], practice, api: httpx.Client
) -> None:
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Create Rule").click()
    page.get_by_label("Name", exact=True).fill("Broken rule")
    page.get_by_role("button", name="Add condition").click()
    row = leaf(page, 0)
    fill_leaf(row, "patient.status", "in")
    row.get_by_label("Type", exact=True).select_option("string")  # "in" needs a list: the API says so
    row.get_by_label("Value", exact=True).fill("active")
    # an appointment placeholder can never resolve on a patient trigger
    page.locator(".action-card").nth(0).get_by_label("Title").fill("Call about {appointment.startsAt}")

    with page.expect_response(
        lambda r: r.url.endswith("/api/automations") and r.request.method == "POST"
    ) as sent:
        page.get_by_role("button", name="Save rule").click()
    assert sent.value.status == 422
    detail: list[dict[str, Any]] = sent.value.json()["detail"]
    by_loc = {tuple(e["loc"]): e["msg"] for e in detail}
    value_loc = ("body", "conditionsJson", "conditions", 0, "value")
    title_loc = ("body", "actionsJson", 0, "args", "title")
    assert set(by_loc) == {value_loc, title_loc}

    for control, loc in (
        (row.get_by_label("Value", exact=True), value_loc),
        (page.locator(".action-card").nth(0).get_by_label("Title"), title_loc),
    ):
        expect(control).to_have_attribute("aria-invalid", "true")
        error = control.locator("xpath=following-sibling::p[contains(@class, 'field-error')]")
        expect(error).to_have_text(by_loc[loc])
        assert error.get_attribute("id") in (control.get_attribute("aria-describedby") or "").split()
    expect(page.locator("#form-errors")).to_contain_text("2 problems")
    expect(page.locator("#form-errors")).to_be_focused()
    screenshot(page, "04-validation-errors")

    # Fixing the value (a JSON list) clears the error for it; the other one remains.
    row.get_by_label("Type", exact=True).select_option("json")
    row.get_by_label("Value", exact=True).fill('["active", "pending"]')
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#form-errors")).to_contain_text("1 problem")
    expect(row.get_by_label("Value", exact=True)).not_to_have_attribute("aria-invalid", "true")
    assert api.get("/api/automations").json()["total"] == 0


def test_the_trace_view_shows_an_event_path(
    page: Page, services: dict[str, Service], practice, api: httpx.Client
) -> None:
    note_rule(api, services["evaluator"], name="Welcome note", body="Welcome {patient.firstName}")
    response = api.post("/api/patients", json={"firstName": "Grace", "lastName": "Hopper"})
    assert response.status_code == 201, response.text
    run = wait_for(
        lambda: next(iter(api.get("/api/runs", params={"status": "succeeded"}).json()["items"]), None),
        PIPELINE_MS / 1000,
        what="the note rule's run",
    )
    trace = api.get(f"/api/events/{run['eventId']}").json()
    kafka = trace["kafka"]
    assert kafka is not None and kafka["topic"] == "crm.patient"

    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Run history").click()
    page.get_by_label("Status").select_option("succeeded")
    history_row = page.locator(f'#runs-table tr[data-run-id="{run["id"]}"]')
    expect(history_row).to_contain_text("Welcome note")
    screenshot(page, "05-run-history")

    history_row.get_by_role("button", name="Trace of event").click()
    timeline = page.locator(".timeline")
    expect(timeline.locator(".kafka")).to_contain_text(
        f"Topic crm.patient · partition {kafka['partition']} · offset {kafka['offset']}"
    )
    hops = timeline.locator(".hop h3")
    expect(hops).to_have_text(["Outbox row written", "Streamed to Kafka", "Run: Welcome note succeeded"])
    expect(timeline.locator(".actions-log tbody tr")).to_contain_text(["create_note"])
    expect(timeline.locator(".actions-log tbody tr[data-status=succeeded]")).to_have_count(1)
    screenshot(page, "06-event-trace")

    timeline.get_by_role("button", name="Run details").click()
    expect(page.get_by_role("heading", name="Run of “Welcome note”")).to_be_visible()
    expect(page.locator("#run-detail")).to_contain_text("No conditions: the rule matches every event")
    log = page.locator("#run-detail .actions-log tbody tr")
    expect(log).to_have_count(1)
    expect(log).to_contain_text(["create_note"])
    screenshot(page, "07-run-detail")
    assert_url_is_clean(page, services)

    page.go_back()  # history.state brings the trace back without any id in the URL
    expect(timeline.locator(".kafka")).to_contain_text(f"offset {kafka['offset']}")


def test_a_test_run_that_outlasts_the_api_wait_is_followed_to_its_end(
    page: Page, services: dict[str, Service], practice, api: httpx.Client
) -> None:
    """The API answers 202 when its wait ends first; the page then follows the event's trace."""
    rule = create_rule(
        api,
        services["evaluator"],
        name="Slow task",
        triggerEvent="crm/appointment.created",
        actionsJson=[{"type": "create_task", "args": {"title": "Prepare {appointment.visitType}"}}],
    )
    page.route(
        "**/api/automations/*/test",
        lambda route: route.continue_(
            post_data=json.dumps({**route.request.post_data_json, "waitSeconds": 0})
        ),
    )
    sign_in(page, services, practice["apiKey"])
    with page.expect_response("**/api/automations/*/test") as answered:
        page.get_by_role("button", name="Test Slow task").click()
    assert answered.value.status == 202
    card = page.locator("#rules-test .run-card")
    expect(card).to_have_attribute("data-status", "succeeded", timeout=PIPELINE_MS)
    expect(page.locator("#rules-test")).not_to_contain_text("still working")
    run = api.get(f"/api/runs/{card.get_attribute('data-run-id')}").json()
    assert (run["ruleId"], run["status"]) == (rule["id"], "succeeded")
    expect(card.locator(".actions-log tbody tr[data-status=succeeded]")).to_have_count(1)


def test_a_rule_that_touches_a_patient_is_tested_on_a_real_patient(
    page: Page, services: dict[str, Service], practice, api: httpx.Client
) -> None:
    """The trigger's sample patient does not exist; staff load one of theirs by id and Test."""
    note_rule(api, services["evaluator"], body="Hello {patient.firstName}", name="Welcome note")
    patient = api.post("/api/patients", json={"firstName": "Lena", "lastName": "Real"}).json()
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Edit Welcome note").click()
    page.get_by_label("Patient ID for the test").fill("00000000-0000-0000-0000-000000000000")
    page.get_by_role("button", name="Use this patient").click()
    expect(page.locator("#rule-form")).to_contain_text("no patient with this ID in this practice")
    page.get_by_label("Patient ID for the test").fill(patient["id"])
    page.get_by_role("button", name="Use this patient").click()
    expect(page.get_by_label("Event data (JSON)")).to_have_value(re.compile(patient["id"]))
    page.get_by_role("button", name="Test", exact=True).click()
    card = page.locator("#editor-test .run-card")
    expect(card).to_have_attribute("data-status", "succeeded", timeout=PIPELINE_MS)
    notes = api.get(f"/api/patients/{patient['id']}/notes").json()
    assert "Hello Lena" in [n["body"] for n in notes]
    assert_url_is_clean(page, services)
