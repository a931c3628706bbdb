"""The Test button's path: a real outbox event, then a bounded wait for the pipeline's runs.

The event is committed in its own short transaction; the wait polls PostgreSQL with a fresh
short transaction per look (never holding one open): the runner marks the outbox row published
with ``runs_expected`` (the evaluator's count), then records each run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from crmflow.outbox import trigger_event_row, write_event
from crmflow.statuses import RunStatus
from crmflow_api.runs_view import event_progress

DONE = frozenset(RunStatus) - {RunStatus.RUNNING}
"""Run statuses that end the wait: all but running ("waiting" = parked in a durable delay)."""
POLL_SECONDS = 0.05


def publish_test_event(
    engine: Engine,
    practice_id: str,
    trigger_name: str,
    entity_id: str,
    data: Mapping[str, Any],
    only_rule_id: str | None = None,
) -> str:
    """Write the test event; ``only_rule_id`` makes only that rule run. The rule's saved version
    applies: the event carries the practice's rule changes so far (``rulesSeq``)."""
    with engine.begin() as conn:
        row = trigger_event_row(practice_id, trigger_name, entity_id, data, only_rule_id=only_rule_id)
        envelope = write_event(conn, row)
    return str(envelope["id"])


def _look(engine: Engine, practice_id: str, event_id: str) -> tuple[bool, list[dict[str, Any]]]:
    with engine.connect() as conn:
        expected, runs = event_progress(conn, practice_id, event_id)
    done = expected is not None and len(runs) >= expected and all(r["status"] in DONE for r in runs)
    return done, runs


async def wait_for_runs(
    engine: Engine, practice_id: str, event_id: str, wait_seconds: float
) -> tuple[bool, list[dict[str, Any]]]:
    """(all announced runs done, the runs so far) after at most ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    while True:
        done, runs = await run_in_threadpool(_look, engine, practice_id, event_id)
        if done or time.monotonic() >= deadline:
            return done, runs
        await asyncio.sleep(POLL_SECONDS)
