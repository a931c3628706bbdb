"""The runner's /healthz, /readyz and /metrics (it has no web framework)."""

from __future__ import annotations

from collections.abc import Callable
from http.server import ThreadingHTTPServer

from crmflow import ops_http


def serve(host: str, port: int, ready: Callable[[], tuple[bool, dict]]) -> ThreadingHTTPServer:
    def readyz() -> ops_http.Response:
        ok, detail = ready()
        return ops_http.json_response(
            200 if ok else 503, {"status": "ready" if ok else "not ready", **detail}
        )

    routes = {"/metrics": ops_http.metrics, "/healthz": ops_http.healthy, "/readyz": readyz}
    return ops_http.serve(host, port, routes)
