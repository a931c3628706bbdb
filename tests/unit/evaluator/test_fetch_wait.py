"""The evaluator's consumer waits at most CRMFLOW_EVALUATOR_FETCH_WAIT_MS per fetch (Faust: 1,500)."""

from __future__ import annotations

import asyncio

from crmflow.settings import Settings
from crmflow_evaluator.app import build_app


def test_the_consumer_faust_creates_waits_the_configured_fetch_wait():
    async def created_wait() -> int:
        app = build_app(Settings(evaluator_fetch_wait_ms=123))
        consumer = app.consumer._thread._create_worker_consumer(app.transport)  # built, not started
        try:
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()

    assert asyncio.run(created_wait()) == 123
