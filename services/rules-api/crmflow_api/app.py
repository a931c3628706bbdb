"""The rules-api application: rules, runs and the reference CRM, over one engine."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from crmflow.db.engine import make_engine
from crmflow.settings import Settings
from crmflow_api.routers import automations, health, patients


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="crmflow rules-api",
        version="0.1.0",
        description="Automation rules, their runs, and the reference CRM of crmflow.",
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
            return JSONResponse({"detail": f"body over {settings.max_body_bytes} bytes"}, status_code=413)
        return await call_next(request)

    for module in (health, patients, automations):
        app.include_router(module.router)
    return app
