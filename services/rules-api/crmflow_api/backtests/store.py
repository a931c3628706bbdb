"""The backtest's result row: created running, progress per page, then done, failed or cancelled.

Every update of a running backtest is conditional on ``status = 'running'``: a cancel (DELETE)
or a stale mark wins, and the worker learns it from its next update touching no row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from crmflow.db.tables import backtests

RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (RUNNING, DONE, FAILED, CANCELLED)

_COLUMNS = (
    backtests.c.id,
    backtests.c.rule_id,
    backtests.c.rule_version,
    backtests.c.definition,
    backtests.c.status,
    backtests.c.since,
    backtests.c.until,
    backtests.c.events_scanned,
    backtests.c.matched,
    backtests.c.capped,
    backtests.c.by_day,
    backtests.c.sample,
    backtests.c.error,
    backtests.c.created_at,
    backtests.c.finished_at,
)
_FAIL_STALE = text(
    """
    UPDATE backtests SET status = 'failed', finished_at = clock_timestamp(), updated_at = clock_timestamp(),
           error = 'stopped: its rules-api process ended before it finished'
    WHERE practice_id = CAST(:practice AS uuid) AND status = 'running'
      AND updated_at < clock_timestamp() - make_interval(secs => :stale)
    """
)


class AlreadyRunning(Exception):
    """The practice has a running backtest (one at a time)."""

    def __init__(self, running_id: str | None) -> None:
        super().__init__("a backtest of this practice is running")
        self.running_id = running_id


def fail_stale(conn: Connection, practice_id: str, stale_seconds: float) -> None:
    """Mark failed the practice's running backtest whose progress stopped (its process died)."""
    conn.execute(_FAIL_STALE, {"practice": practice_id, "stale": stale_seconds})


def create(
    engine: Engine,
    practice_id: str,
    *,
    rule_id: str | None,
    rule_version: int | None,
    definition: dict[str, Any],
    since: datetime,
    until: datetime,
    by_day: list[dict[str, Any]],
    stale_seconds: float,
) -> str:
    """Insert the running row (raises AlreadyRunning when the practice has one)."""
    with engine.begin() as conn:
        fail_stale(conn, practice_id, stale_seconds)
    try:
        with engine.begin() as conn:
            return str(
                conn.execute(
                    insert(backtests)
                    .values(
                        practice_id=practice_id,
                        rule_id=rule_id,
                        rule_version=rule_version,
                        definition=definition,
                        since=since,
                        until=until,
                        by_day=by_day,
                    )
                    .returning(backtests.c.id)
                ).scalar_one()
            )
    except IntegrityError:
        with engine.connect() as conn:
            running = conn.execute(
                select(backtests.c.id).where(
                    backtests.c.practice_id == practice_id, backtests.c.status == RUNNING
                )
            ).scalar()
        raise AlreadyRunning(None if running is None else str(running)) from None


def progress(
    engine: Engine, backtest_id: str, scanned: int, matched: int, by_day: list[dict[str, Any]]
) -> bool:
    """Record progress; False when the backtest is no longer running (cancelled or marked stale)."""
    with engine.begin() as conn:
        row = conn.execute(
            update(backtests)
            .where(backtests.c.id == backtest_id, backtests.c.status == RUNNING)
            .values(events_scanned=scanned, matched=matched, by_day=by_day, updated_at=func.clock_timestamp())
            .returning(backtests.c.id)
        ).first()
    return row is not None


def touch(engine: Engine, backtest_ids: list[str]) -> None:
    """The heartbeat: these backtests' process is alive (queued or running)."""
    with engine.begin() as conn:
        conn.execute(
            update(backtests)
            .where(backtests.c.id.in_(backtest_ids), backtests.c.status == RUNNING)
            .values(updated_at=func.clock_timestamp())
        )


def finish(engine: Engine, backtest_id: str, status: str, **values: Any) -> bool:
    """End a running backtest with ``status`` and its last counts (False: it was not running)."""
    with engine.begin() as conn:
        row = conn.execute(
            update(backtests)
            .where(backtests.c.id == backtest_id, backtests.c.status == RUNNING)
            .values(
                status=status,
                finished_at=func.clock_timestamp(),
                updated_at=func.clock_timestamp(),
                **values,
            )
            .returning(backtests.c.id)
        ).first()
    return row is not None


def cancel(conn: Connection, practice_id: str, backtest_id: str) -> None:
    conn.execute(
        update(backtests)
        .where(
            backtests.c.id == backtest_id,
            backtests.c.practice_id == practice_id,
            backtests.c.status == RUNNING,
        )
        .values(status=CANCELLED, finished_at=func.clock_timestamp(), updated_at=func.clock_timestamp())
    )


def read(conn: Connection, practice_id: str, backtest_id: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(*_COLUMNS).where(backtests.c.id == backtest_id, backtests.c.practice_id == practice_id)
        )
        .mappings()
        .first()
    )
    return None if row is None else to_json(row)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def to_json(row: Any) -> dict[str, Any]:
    definition = row["definition"]
    return {
        "id": str(row["id"]),
        "ruleId": None if row["rule_id"] is None else str(row["rule_id"]),
        "ruleVersion": row["rule_version"],
        "rule": definition,
        "status": row["status"],
        "since": _iso(row["since"]),
        "until": _iso(row["until"]),
        "eventsScanned": row["events_scanned"],
        "matched": row["matched"],
        "capped": row["capped"],
        "byDay": row["by_day"],
        "sample": row["sample"],
        "error": row["error"],
        "createdAt": _iso(row["created_at"]),
        "finishedAt": _iso(row["finished_at"]),
    }
