"""The rule form's Backtest panel (SPEC section 10) in headless Chromium against the real system:
"What would this rule have done in the last 7 days?" — the per-day chart of scanned and matched
events, the sample of matches with their would-be actions; progress while it runs, and Cancel.

Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, text

from tests.browser.conftest import screenshot
from tests.browser.test_automations_page import sign_in
from tests.support.processes import Service
from tests.support.rules import create_rule
from tests.support.slot import make_service

pytestmark = pytest.mark.e2e

VIP = {"field": "patient.tags", "operator": "contains", "value": "vip"}
NOTE = [{"type": "create_note", "args": {"patientId": "{patientId}", "body": "Hello {patient.firstName}"}}]


def _patients(api: httpx.Client, count: int, vip_every: int) -> None:
    for i in range(count):
        tags = ["vip"] if i % vip_every == 0 else []
        r = api.post("/api/patients", json={"firstName": f"Bt{i}", "lastName": "Panel", "tags": tags})
        assert r.status_code == 201, r.text


def _counts(engine: Engine, practice_id: str) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM outbox_events WHERE practice_id = CAST(:p AS uuid)),"
                " (SELECT count(*) FROM automation_runs WHERE practice_id = CAST(:p AS uuid))"
            ),
            {"p": practice_id},
        ).one()
    return int(row[0]), int(row[1])


def test_the_backtest_panel_shows_days_matches_and_would_be_actions(
    page: Page, services: dict[str, Service], practice: dict[str, str], api: httpx.Client, engine: Engine
) -> None:
    rule = create_rule(
        api,
        services["evaluator"],
        name="VIP welcome",
        triggerEvent="crm/patient.created",
        conditionsJson=VIP,
        actionsJson=NOTE,
    )
    _patients(api, 12, 3)  # 4 VIPs
    sign_in(page, services, practice["apiKey"])
    page.get_by_role("button", name="Edit VIP welcome").click()
    expect(page.locator("#save-state")).to_contain_text("Saved · version 1")
    panel = page.locator("#backtest")
    expect(panel).to_contain_text("What would this rule have done in the last 7 / 30 days?")
    page.wait_for_timeout(300)  # the runs of the 12 events are the pipeline's: let them settle
    before = _counts(engine, practice["id"])

    panel.get_by_role("button", name="Last 7 days").click()
    progress = page.locator("#backtest-progress")
    expect(progress).to_contain_text("4 of 12 events matched")
    expect(progress).to_contain_text("Saved rule, version 1.")
    chart = panel.locator("svg.backtest-chart")
    expect(chart).to_have_attribute("aria-label", "Events per day: 12 scanned, 4 matched, over 8 days")
    expect(chart.locator("g.day")).to_have_count(8)
    expect(chart.locator("g.day").last.locator("title")).to_contain_text(": 12 scanned, 4 matched")
    matches = panel.locator(".backtest-sample > li")
    expect(matches).to_have_count(4)
    expect(matches.first).to_contain_text("create_note")
    expect(matches.first).to_contain_text("would run")
    expect(matches.first).to_contain_text('"body": "Hello Bt9"')  # the newest VIP first
    matches.first.get_by_text("Why it matched").click()
    expect(matches.first.locator(".trace")).to_contain_text("patient.tags")
    screenshot(page, "20-backtest-panel")
    assert _counts(engine, practice["id"]) == before  # no event, no run

    # An unsaved edit is backtested as edited: everyone matches without the condition.
    page.locator("#condition-builder").get_by_role("button", name="Remove condition").first.click()
    panel.get_by_role("button", name="Last 30 days").click()
    expect(progress).to_contain_text("12 of 12 events matched")
    expect(progress).to_contain_text("The definition as edited (not saved).")
    expect(chart.locator("g.day")).to_have_count(31)
    assert api.get(f"/api/automations/{rule['id']}").json()["version"] == 1  # not saved by it


@pytest.fixture
def slow_api(settings, services: dict[str, Service]) -> Iterator[Service]:
    """A second rules-api reading one event per page, so a backtest runs long enough to watch."""
    service = make_service("api", settings, second=True, CRMFLOW_BACKTEST_PAGE_SIZE="1")
    service.start()
    yield service
    service.stop()


def test_the_panel_shows_progress_and_cancels(
    page: Page, slow_api: Service, services: dict[str, Service], practice: dict[str, str], api: httpx.Client
) -> None:
    create_rule(
        api, services["evaluator"], name="Everyone", triggerEvent="crm/patient.created", actionsJson=NOTE
    )
    _patients(api, 200, 2)
    sign_in(page, {"api": slow_api}, practice["apiKey"])
    page.get_by_role("button", name="Edit Everyone").click()
    panel = page.locator("#backtest")
    panel.get_by_role("button", name="Last 7 days").click()
    progress = page.locator("#backtest-progress")
    expect(progress).to_have_attribute("data-status", "running")
    expect(progress).to_contain_text("Scanning…")
    expect(panel.get_by_role("button", name="Last 7 days")).to_be_disabled()
    screenshot(page, "21-backtest-running")
    panel.get_by_role("button", name="Cancel backtest").click()
    expect(progress).to_have_attribute("data-status", "cancelled")
    expect(progress).to_contain_text("Cancelled after")
    expect(panel.get_by_role("button", name="Cancel backtest")).to_be_hidden()
    expect(panel.get_by_role("button", name="Last 7 days")).to_be_enabled()
