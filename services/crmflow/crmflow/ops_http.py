"""The operational HTTP endpoints of a service without a web framework (the action-runner, the
connect-supervisor): a threaded standard-library server answering GET routes, off the hot path."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Response = tuple[int, bytes, str]  # status, body, content type
Route = Callable[[], Response]


def json_response(status: int, body: Mapping[str, Any]) -> Response:
    return status, json.dumps(body).encode(), "application/json"


def metrics() -> Response:
    """Prometheus' text format of this process's registry."""
    return 200, generate_latest(), CONTENT_TYPE_LATEST


def healthy() -> Response:
    return json_response(200, {"status": "ok"})


def serve(host: str, port: int, routes: Mapping[str, Route]) -> ThreadingHTTPServer:
    """Serve ``routes`` (path -> response, the query string ignored) on a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            status, body, content_type = route() if route else json_response(404, {"detail": "not found"})
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # no access logs
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
