"""The backtest row's life in PostgreSQL: one running per practice, the heartbeat keeps a held
one fresh, a stale one is marked failed, and a cancelled one takes no more progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from crmflow.apikeys import create_practice
from crmflow_api.backtests import store

pytestmark = pytest.mark.integration

DEFINITION: dict[str, Any] = {
    "triggerEvent": "crm/patient.created",
    "conditionsJson": None,
    "actionsJson": [],
}


def _create(engine, practice_id: str) -> str:
    now = datetime.now(UTC)
    return store.create(
        engine,
        practice_id,
        rule_id=None,
        rule_version=None,
        definition=DEFINITION,
        since=now - timedelta(days=1),
        until=now,
        by_day=[],
        stale_seconds=60,
    )


def _age(engine, backtest_id: str, seconds: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE backtests SET updated_at = clock_timestamp() - make_interval(secs => :s)"
                " WHERE id = :id"
            ),
            {"s": seconds, "id": backtest_id},
        )


def _status(engine, practice_id: str, backtest_id: str) -> str:
    with engine.connect() as conn:
        found = store.read(conn, practice_id, backtest_id)
    assert found is not None
    return str(found["status"])


def test_one_running_per_practice_heartbeat_stale_and_cancel(engine):
    with engine.begin() as conn:
        practice_id = create_practice(conn, "Backtest store practice")
    first = _create(engine, practice_id)
    with pytest.raises(store.AlreadyRunning) as refused:
        _create(engine, practice_id)
    assert refused.value.running_id == first

    _age(engine, first, 120)
    store.touch(engine, [first])  # its process is alive: not stale
    with engine.begin() as conn:
        store.fail_stale(conn, practice_id, 60)
    assert _status(engine, practice_id, first) == "running"

    _age(engine, first, 120)  # no heartbeat: its process is gone
    second = _create(engine, practice_id)  # marks the stale one failed first
    assert _status(engine, practice_id, first) == "failed"

    assert store.progress(engine, second, 10, 2, [])
    with engine.begin() as conn:
        store.cancel(conn, practice_id, second)
    assert not store.progress(engine, second, 20, 4, [])  # the worker learns it and stops
    assert not store.finish(engine, second, store.DONE, events_scanned=20)
    with engine.connect() as conn:
        found = store.read(conn, practice_id, second)
    assert found is not None and (found["status"], found["eventsScanned"]) == ("cancelled", 10)
