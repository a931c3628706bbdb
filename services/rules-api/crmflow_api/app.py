"""The rules-api application: rules, runs and the reference CRM, over one engine."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from crmflow.crm.entities import NotFound
from crmflow.db.engine import make_engine
from crmflow.settings import Settings
from crmflow_api.body_limit import BodyLimit
from crmflow_api.deps import refuse_unknown_query
from crmflow_api.metrics import RequestMetrics
from crmflow_api.routers import (
    audit,
    automations,
    backtests,
    catalog,
    drafts,
    events,
    health,
    internal,
    patients,
    practice,
    runs,
    trials,
    webhooks,
)
from crmflow_api.web import router as web


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="crmflow rules-api",
        version="0.1.0",
        description="Automation rules, their runs, and the reference CRM of crmflow. Public routes "
        "take `Authorization: Bearer <practice API key>`; `/api/internal/*` takes `X-Internal-Api-Key`.",
        dependencies=[Depends(refuse_unknown_query)],
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)  # added last = outermost: sees the body limit's 413s too
    for module in (
        health,
        catalog,
        practice,
        patients,
        drafts,
        automations,
        backtests,
        trials,
        runs,
        events,
        audit,
        internal,
        webhooks,
        web,
    ):
        app.include_router(module.router)

    def stop_backtests() -> None:
        """Running backtests end ``failed`` rather than stay ``running`` after the process."""
        workers = getattr(app.state, "backtests", None)
        if workers is not None:
            workers.close()

    app.router.on_shutdown.append(stop_backtests)

    @app.exception_handler(NotFound)
    async def entity_not_found(request: Request, exc: NotFound) -> JSONResponse:
        """A CRM entity of the route, or one its body names, is not in the caller's practice (the
        same answer as for an id that does not exist; the id is not echoed)."""
        return JSONResponse({"detail": f"{exc.kind} not found"}, status_code=404)

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        """PostgreSQL down or restarting: nothing was committed; the client may retry."""
        return JSONResponse(
            {"detail": "the database is unavailable; nothing was saved, retry shortly"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    return app
