"""Backtests (SPEC section 10): what a rule would have done over the practice's past events.

``POST /api/automations/backtest`` starts one (202 ``{id}``) for a saved rule (its current
definition) or an unsaved one; ``GET /api/backtests/{id}`` shows its progress and result;
``DELETE /api/backtests/{id}`` cancels it. One runs at a time per practice (a second: 409).
Nothing but the backtest's own row is written: no run, command, effect, event or Kafka record.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, func, select
from starlette.concurrency import run_in_threadpool

from crmflow.backtest_record import Backtest, BacktestRequest, BacktestStarted
from crmflow.practice_settings import get_practice
from crmflow.rule_validation import validate_rule
from crmflow.rules_repo import get_rule
from crmflow.settings import Settings
from crmflow.timezones import DEFAULT_ZONE
from crmflow.validation import FieldError
from crmflow_api.backtests import store
from crmflow_api.backtests.tally import Tally, compile_definition
from crmflow_api.backtests.worker import Backtests, Job
from crmflow_api.deps import AppSettings, Db, Eng, PracticeId, PracticeIdNoTransaction
from crmflow_api.errors import (
    AUTH_ERRORS,
    BAD_BODY,
    NOT_FOUND,
    ErrorOut,
    not_found,
    raise_field_errors,
    require_uuid,
)

router = APIRouter(tags=["backtests"], responses=AUTH_ERRORS)

CLOCK_SLACK = timedelta(minutes=10)
"""How far before the retention window a ``since`` may start (a client computing "30 days ago"
on a clock a little behind the server's)."""


_WORKERS_LOCK = threading.Lock()


def _workers(request: Request, engine: Engine, settings: Settings) -> Backtests:
    """The process's backtest workers, made on first use (once: requests run in threads)."""
    with _WORKERS_LOCK:
        workers = getattr(request.app.state, "backtests", None)
        if workers is None:
            workers = request.app.state.backtests = Backtests(engine, settings)
    return workers


def _definition(
    engine: Engine, practice_id: str, body: BacktestRequest, settings: Settings
) -> tuple[dict[str, Any], str | None, int | None]:
    if body.ruleId is not None:
        with engine.connect() as conn:
            rule = get_rule(conn, practice_id, require_uuid(body.ruleId, "rule"))
        if rule is None:
            raise not_found("rule")
        keys = ("triggerEvent", "conditionsJson", "actionsJson")
        return {k: rule[k] for k in keys}, rule["id"], rule["version"]
    assert body.rule is not None
    definition = body.rule.model_dump()
    errors = validate_rule(
        definition["triggerEvent"],
        definition["conditionsJson"],
        definition["actionsJson"],
        settings.patient_field_allowlist,
    )
    if errors:
        raise_field_errors(errors, prefix=("body", "rule"))
    return definition, None, None


def _window(engine: Engine, body: BacktestRequest, settings: Settings) -> tuple[datetime, datetime]:
    with engine.connect() as conn:
        now: datetime = conn.execute(select(func.clock_timestamp())).scalar_one()
    until = now if body.until is None else min(body.until, now)
    earliest = now - timedelta(days=settings.retention_days)
    errors = []
    if body.since < earliest - CLOCK_SLACK:
        errors.append(
            FieldError(
                ("since",),
                f"before the retention window (CRMFLOW_RETENTION_DAYS={settings.retention_days})",
                "value_error",
            )
        )
    elif body.since >= until:
        field = "until" if body.until is not None and body.until <= now else "since"
        errors.append(
            FieldError((field,), "the window is empty: since must be before until (and now)", "value_error")
        )
    if errors:
        raise_field_errors(errors)
    return max(body.since, earliest - CLOCK_SLACK), until


def _start(
    request: Request, engine: Engine, practice_id: str, body: BacktestRequest, settings: Settings
) -> str:
    definition, rule_id, version = _definition(engine, practice_id, body, settings)
    since, until = _window(engine, body, settings)
    with engine.connect() as conn:
        zone = ZoneInfo(get_practice(conn, practice_id).get("timeZone") or DEFAULT_ZONE)
    rule = compile_definition(practice_id, definition, rule_id, version or 0)
    empty = Tally(rule, since, until, zone, settings.max_chain_depth)
    backtest_id = store.create(
        engine,
        practice_id,
        rule_id=rule_id,
        rule_version=version,
        definition=definition,
        since=since,
        until=until,
        by_day=empty.by_day(),
        stale_seconds=settings.backtest_stale_seconds,
    )
    _workers(request, engine, settings).submit(Job(backtest_id, practice_id, rule, since, until, zone))
    return backtest_id


@router.post(
    "/api/automations/backtest",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **NOT_FOUND,
        **BAD_BODY,
        409: {
            "model": ErrorOut,
            "description": "A backtest of the practice is running (its id in runningId)",
        },
    },
)
async def start_backtest(
    body: BacktestRequest,
    request: Request,
    practice_id: PracticeIdNoTransaction,
    engine: Eng,
    settings: AppSettings,
) -> BacktestStarted:
    """Start a backtest over ``since``..``until`` (at most the retention window); poll its GET."""
    try:
        backtest_id = await run_in_threadpool(_start, request, engine, practice_id, body, settings)
    except store.AlreadyRunning as exc:
        return JSONResponse(
            {
                "detail": "a backtest of this practice is running; cancel it or wait",
                "runningId": exc.running_id,
            },
            status_code=status.HTTP_409_CONFLICT,
        )
    return BacktestStarted(id=backtest_id)


def _read(db: Db, practice_id: str, backtest_id: str) -> dict[str, Any]:
    found = store.read(db, practice_id, require_uuid(backtest_id, "backtest"))
    if found is None:
        raise not_found("backtest")
    return found


@router.get("/api/backtests/{backtest_id}", responses=NOT_FOUND)
def read_backtest(backtest_id: str, practice_id: PracticeId, db: Db, settings: AppSettings) -> Backtest:
    found = _read(db, practice_id, backtest_id)
    if found["status"] == store.RUNNING:
        store.fail_stale(db, practice_id, settings.backtest_stale_seconds)
        found = _read(db, practice_id, backtest_id)
    return Backtest.model_validate(found)


@router.delete("/api/backtests/{backtest_id}", responses=NOT_FOUND)
def cancel_backtest(backtest_id: str, practice_id: PracticeId, db: Db) -> Backtest:
    """Cancel a running backtest (it stops at its next page); a finished one is returned as is."""
    _read(db, practice_id, backtest_id)
    store.cancel(db, practice_id, backtest_id)
    return Backtest.model_validate(_read(db, practice_id, backtest_id))
