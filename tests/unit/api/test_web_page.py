"""The automations page's router: the page and its assets, nothing else, nothing from elsewhere."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crmflow_api.web.router import STATIC_DIR, WEB_DIR, router

app = FastAPI()
app.include_router(router)
client = TestClient(app)

IMPORT = re.compile(r"""^import [^"]*"\./([\w.-]+)";$""", re.MULTILINE)


def test_the_page_loads_without_a_key_and_with_strict_headers() -> None:
    response = client.get("/settings/automations")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "default-src 'none'" in csp
    assert '<script type="module" src="/static/app.js">' in response.text


def test_every_module_the_page_imports_is_served_as_javascript() -> None:
    """Walk the import graph from app.js: a missing or misnamed module would break the page."""
    seen: set[str] = set()
    todo = ["app.js"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("text/javascript")
        todo += IMPORT.findall(response.text)
    assert seen == {p.name for p in STATIC_DIR.glob("*.js")}, "every module is reachable from app.js"
    assert client.get("/static/automations.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    "path",
    ["/static/%2e%2e/router.py", "/static/..%2Frouter.py", "/static/nope.js", "/static/", "/static/app"],
)
def test_nothing_but_the_static_files_is_served(path: str) -> None:
    assert client.get(path).status_code == 404


def test_nothing_is_loaded_from_another_origin() -> None:
    """Offline and no CDN: no absolute URL in the page, its scripts or its styles."""
    for file in [WEB_DIR / "automations.html", *STATIC_DIR.iterdir()]:
        assert not re.search(r"(https?:)?//[\w.-]+\.\w+/", file.read_text()), file.name
