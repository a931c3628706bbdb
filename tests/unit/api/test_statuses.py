"""Run and action-log statuses reach the OpenAPI contract and the web page from crmflow.statuses."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

from crmflow.settings import Settings
from crmflow.statuses import ActionStatus, RunStatus
from crmflow_api.app import create_app
from crmflow_api.pipeline_wait import DONE
from crmflow_api.web.router import STATIC_DIR, WEB_DIR


def _openapi(settings: Settings) -> dict[str, Any]:
    app: FastAPI = create_app(settings)
    return app.openapi()


def test_the_openapi_enums_are_the_statuses(no_database: Settings) -> None:
    spec = _openapi(no_database)
    schemas = spec["components"]["schemas"]
    assert schemas["RunStatus"]["enum"] == [s.value for s in RunStatus]
    assert schemas["ActionStatus"]["enum"] == [s.value for s in ActionStatus]
    assert schemas["RunSummary"]["properties"]["status"] == {"$ref": "#/components/schemas/RunStatus"}
    assert schemas["ActionLog"]["properties"]["status"] == {"$ref": "#/components/schemas/ActionStatus"}
    for path in ("/api/runs", "/api/automations/{rule_id}/runs"):
        (status,) = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "status"]
        assert {"$ref": "#/components/schemas/RunStatus"} in status["schema"]["anyOf"], path


def test_the_run_history_filter_offers_every_run_status() -> None:
    page = (WEB_DIR / "automations.html").read_text()
    select = re.search(r'<select id="runs-status">(.*?)</select>', page, re.DOTALL)
    assert select is not None
    offered = re.findall(r"<option>(\w+)</option>", select.group(1))
    assert sorted(offered) == sorted(s.value for s in RunStatus)


def test_the_page_and_the_test_button_agree_on_when_a_run_is_done() -> None:
    script = (STATIC_DIR / "runsui.js").read_text()
    done = re.search(r"const DONE = new Set\(\[(.*?)\]\);", script)
    assert done is not None
    assert set(re.findall(r'"(\w+)"', done.group(1))) == {s.value for s in DONE}
