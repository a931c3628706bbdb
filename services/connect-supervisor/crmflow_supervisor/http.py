"""GET /healthz, /readyz, /status (JSON) and /metrics of the supervisor, on a thread of its own.
It needs nothing to be ready: /readyz answers like /healthz (Connect's state is in /status)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def start_server(host: str, port: int, status: Callable[[], dict[str, Any]]) -> ThreadingHTTPServer:
    routes: dict[str, Callable[[], tuple[bytes, str]]] = {
        "/healthz": lambda: (b'{"status": "ok"}', "application/json"),
        "/readyz": lambda: (b'{"status": "ready"}', "application/json"),
        "/status": lambda: (json.dumps(status()).encode(), "application/json"),
        "/metrics": lambda: (generate_latest(), CONTENT_TYPE_LATEST),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            code, (body, content_type) = (
                (200, route()) if route else (404, (b'{"detail": "not found"}', "application/json"))
            )
            self.send_response(code)
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
