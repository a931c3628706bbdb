"""GET /healthz, /readyz, /status (JSON) and /metrics of the supervisor, on a thread of its own.
It needs nothing to be ready: /readyz answers like /healthz (Connect's state is in /status)."""

from __future__ import annotations

from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from crmflow import ops_http


def start_server(host: str, port: int, status: Callable[[], dict[str, Any]]) -> ThreadingHTTPServer:
    routes: dict[str, ops_http.Route] = {
        "/healthz": ops_http.healthy,
        "/readyz": lambda: ops_http.json_response(200, {"status": "ready"}),
        "/status": lambda: ops_http.json_response(200, status()),
        "/metrics": ops_http.metrics,
    }
    return ops_http.serve(host, port, routes)
