"""Prometheus metrics of the rules-api: requests by route template (never ids) and status."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "crmflow_api_requests_total",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "crmflow_api_request_seconds", "HTTP request latency by method and route template", ["method", "route"]
)
UNMATCHED = "<unmatched>"


class RequestMetrics:
    """Outermost middleware: counts every response, 413s of the body limit included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = scope["method"]
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(time.perf_counter() - started)
