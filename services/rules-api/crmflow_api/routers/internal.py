"""The seed's publisher route. With CDC nothing is polled: it reports the pipeline's status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
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
    tasks: list[dict[str, Any]] = Field(
        description="id, state, workerId, error (a failure's innermost cause)"
    )
    error: str | None = Field(
        default=None, description="a failure's innermost cause, or why the state is unknown"
    )


class Restarts(BaseModel):
    """Restarts of a FAILED connector or task by the connect-supervisor (all null when no
    supervisor is configured, e.g. Helm with Strimzi's autoRestart, or it did not answer)."""

    source: str | None = Field(description="the supervisor's URL")
    count: int | None
    lastRestartAt: str | None
    lastError: str | None = Field(description="first trace line of the failure last restarted")
    lastCause: str | None = Field(description="its innermost 'Caused by:'")
    error: str | None = None


class ReplicationSlot(BaseModel):
    name: str
    exists: bool
    active: bool
    lagBytes: int | None


class PipelineStatus(BaseModel):
    connector: Connector
    restarts: Restarts
    replicationSlot: ReplicationSlot
    pendingRows: int
    oldestPendingSeconds: float | None


@router.post("/outbox/publish")
async def outbox_publish(engine: Eng, settings: AppSettings) -> PipelineStatus:
    """Connector and task states (Kafka Connect), restarts by the connect-supervisor,
    replication-slot lag, outbox rows not yet streamed."""
    return PipelineStatus.model_validate(await run_in_threadpool(pipeline_status, engine, settings))
