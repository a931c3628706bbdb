"""The seed's publisher route. With CDC nothing is polled: it reports the pipeline's status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from crmflow_api.cdc_status import pipeline_status
from crmflow_api.deps import AppSettings, Eng, Internal
from crmflow_api.errors import ErrorOut

router = APIRouter(
    prefix="/api/internal",
    tags=["internal"],
    dependencies=[Internal],
    responses={
        401: {"model": ErrorOut, "description": "Missing or invalid X-Internal-Api-Key"},
        403: {"model": ErrorOut, "description": "Internal API disabled (INTERNAL_API_KEY unset)"},
    },
)


class Connector(BaseModel):
    name: str
    state: str
    tasks: list[dict[str, Any]]
    error: str | None = None


class ReplicationSlot(BaseModel):
    name: str
    exists: bool
    active: bool
    lagBytes: int | None


class PipelineStatus(BaseModel):
    connector: Connector
    replicationSlot: ReplicationSlot
    pendingRows: int
    oldestPendingSeconds: float | None


@router.post("/outbox/publish")
async def outbox_publish(engine: Eng, settings: AppSettings) -> PipelineStatus:
    """Connector state (Kafka Connect), replication-slot lag, outbox rows not yet streamed."""
    return PipelineStatus.model_validate(await run_in_threadpool(pipeline_status, engine, settings))
