"""The rules-api's contract, checked in process without a database: documented errors and auth,
the internal key, metrics labelled by route template."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from crmflow.settings import Settings
from crmflow_api.app import create_app

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PUBLIC = ("/healthz", "/readyz", "/metrics")


@pytest.fixture
def app(no_database: Settings):
    return create_app(no_database.model_copy(update={"internal_api_key": "s3cret-internal"}))


def operations(app):
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def test_every_api_route_declares_auth_and_its_errors(app):
    checked = 0
    for path, method, op in operations(app):
        if path in PUBLIC:
            continue
        codes = set(op["responses"])
        if path.startswith("/api/internal/"):
            assert {"401", "403"} <= codes, (method, path)
            assert op["security"] == [{"APIKeyHeader": []}]
        else:
            assert {"401", "413"} <= codes, (method, path)
            assert op["security"] == [{"HTTPBearer": []}], (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        ok = [c for c in codes if c.startswith("2") and c != "204"]
        for code in ok:
            assert op["responses"][code]["content"]["application/json"]["schema"], (method, path, code)
        checked += 1
    assert checked >= 20


def test_unauthenticated_calls_get_401_without_touching_the_database(app):
    client = TestClient(app)
    calls = 0
    for route in iter_route_contexts(app.routes):
        if not route.path or not route.path.startswith("/api/") or "internal" in route.path:
            continue
        path = route.path.replace("{", "").replace("}", "")
        for method in route.methods or ():
            response = client.request(method, path, headers={"Authorization": "Basic abc"})
            assert response.status_code == 401, (method, route.path, response.text)
            assert set(response.json()) == {"detail"}
            calls += 1
    assert calls >= 20


def test_internal_routes_need_the_internal_key(app):
    client = TestClient(app)
    assert client.post("/api/internal/outbox/publish").status_code == 401
    wrong = client.post("/api/internal/outbox/publish", headers={"X-Internal-Api-Key": "nope"})
    assert wrong.status_code == 401


@pytest.mark.parametrize("key", [None, ""])
def test_internal_routes_are_disabled_without_internal_api_key(key):
    client = TestClient(create_app(Settings(internal_api_key=key)))
    response = client.post("/api/internal/outbox/publish", headers={"X-Internal-Api-Key": ""})
    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]


def test_metrics_label_requests_by_route_template_never_by_id(app):
    client = TestClient(app)
    rule_id = "0b8e6a52-7c1d-4f3a-9e2b-5d4c3b2a1f00"
    assert client.get(f"/api/automations/{rule_id}").status_code == 401
    assert client.get("/no/such/page").status_code == 404
    assert client.post("/api/patients", content=b"x" * (300 * 1024)).status_code == 413
    text = client.get("/metrics").text
    assert 'route="/api/automations/{rule_id}",status="401"' in text
    assert 'route="<unmatched>",status="404"' in text
    assert 'status="413"' in text
    assert "crmflow_api_request_seconds_bucket" in text
    assert not UUID_RE.search(text)


def test_docs_and_openapi_are_served(app):
    client = TestClient(app)
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "crmflow rules-api"


def test_unknown_query_parameters_of_api_routes_are_refused(app):
    client = TestClient(app)
    response = client.get("/api/runs", params={"limit": 5, "colour": "red"})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["query", "colour"], "msg": "unknown query parameter", "type": "extra_forbidden"}
    ]
    assert client.get("/healthz", params={"probe": 1}).status_code == 200
