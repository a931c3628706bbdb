"""The page's pure ES modules (conditions, error placement, argument forms, catalog, DOM helpers),
tested in the real browser without a server: Playwright answers the page's requests from the files.

Each tests/browser/js/*.test.js exports ``tests`` (name -> function); the fixtures they get are
built here from crmflow's own registry (real trigger samples and action argument schemas).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route

from crmflow.actions import ACTION_TYPES
from crmflow.conditions import OPERATORS
from crmflow.conditions.operators import LEAF_OPERATORS
from crmflow.triggers import TRIGGERS
from crmflow_api.web.router import STATIC_DIR

pytestmark = pytest.mark.e2e

JS_TESTS = Path(__file__).parent / "js"
ORIGIN = "http://page.test"
RUN_MODULE = """async ([path, fixtures]) => {
  globalThis.fixtures = fixtures;
  const { tests } = await import(path);
  const results = [];
  for (const [name, test] of Object.entries(tests)) {
    try { await test(); results.push([name, null]); }
    catch (error) { results.push([name, String(error && error.stack || error)]); }
  }
  return results;
}"""


def _serve(route: Route) -> None:
    path = route.request.url.removeprefix(ORIGIN)
    if path == "/":
        route.fulfill(body="<!doctype html><title>js tests</title>", content_type="text/html")
        return
    folder, _, name = path.lstrip("/").partition("/")
    file = {"static": STATIC_DIR, "js": JS_TESTS}.get(folder, Path("/nonexistent")) / name
    if not file.is_file():
        route.fulfill(status=404, body="not found")
        return
    route.fulfill(path=str(file), content_type=mimetypes.guess_type(file.name)[0] or "text/javascript")


def _fixtures() -> dict:
    return {
        "argsSchemas": {name: model.model_json_schema() for name, model in ACTION_TYPES.items()},
        "triggers": [
            {"name": t.name, "sampleData": t.sample_data(), "fieldPaths": t.field_paths()}
            for t in TRIGGERS.values()
        ],
        "leafOperators": sorted(OPERATORS),
        "noValue": sorted(name for name, op in LEAF_OPERATORS.items() if not op.needs_value),
    }


@pytest.mark.parametrize("module", sorted(JS_TESTS.glob("*.test.js")), ids=lambda p: p.name)
def test_js_module(page: Page, module: Path) -> None:
    page.route(f"{ORIGIN}/**", _serve)
    page.goto(f"{ORIGIN}/")
    results = page.evaluate(RUN_MODULE, [f"/js/{module.name}", _fixtures()])
    failures = [f"{name}: {error}" for name, error in results if error]
    assert results, f"{module.name} exports no tests"
    assert not failures, "\n\n".join(failures)
