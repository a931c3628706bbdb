"""Status of the CDC pipeline for /api/internal/outbox/publish: with Debezium there is nothing to
poll, so the seed's publisher route reports the connector state (Connect REST), the replication
slot's lag, and the outbox rows not yet seen downstream (status pending)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import Engine, text

from crmflow import cdc
from crmflow.settings import Settings

DEFAULT_SLOT = cdc.SLOT  # when Connect cannot say the connector's slot.name
CONNECT_TIMEOUT = 3.0

_SLOT = text(
    """
    SELECT active,
           pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag_bytes
    FROM pg_replication_slots WHERE slot_name = :slot
    """
)
_PENDING = text(
    """
    SELECT count(*) AS n,
           EXTRACT(EPOCH FROM clock_timestamp() - min(created_at))::float AS oldest
    FROM outbox_events WHERE status = 'pending'
    """
)


def connector_status(settings: Settings) -> tuple[dict[str, Any], str]:
    """(connector report, the replication slot it uses) from the Connect REST API."""
    base = f"{settings.connect_url.rstrip('/')}/connectors/{settings.connector_name}"
    report: dict[str, Any] = {"name": settings.connector_name, "state": "UNKNOWN", "tasks": []}
    slot = DEFAULT_SLOT
    try:
        with httpx.Client(timeout=CONNECT_TIMEOUT) as client:
            status = client.get(f"{base}/status")
            if status.status_code == 404:
                return {**report, "state": "NOT_FOUND"}, slot
            status.raise_for_status()
            body = status.json()
            report["state"] = body.get("connector", {}).get("state", "UNKNOWN")
            report["tasks"] = [
                {"id": t.get("id"), "state": t.get("state"), "workerId": t.get("worker_id")}
                for t in body.get("tasks", [])
            ]
            config = client.get(f"{base}/config")
            if config.status_code == 200:
                slot = config.json().get("slot.name", slot)
    except (httpx.HTTPError, ValueError) as exc:
        report.update(state="UNREACHABLE", error=type(exc).__name__)
    return report, slot


def pipeline_status(engine: Engine, settings: Settings) -> dict[str, Any]:
    connector, slot_name = connector_status(settings)  # before the DB: no transaction held over HTTP
    with engine.connect() as conn:
        slot = conn.execute(_SLOT, {"slot": slot_name}).first()
        pending = conn.execute(_PENDING).one()
    return {
        "connector": connector,
        "replicationSlot": {
            "name": slot_name,
            "exists": slot is not None,
            "active": bool(slot.active) if slot is not None else False,
            "lagBytes": int(slot.lag_bytes) if slot is not None and slot.lag_bytes is not None else None,
        },
        "pendingRows": int(pending.n),
        "oldestPendingSeconds": round(pending.oldest, 3) if pending.oldest is not None else None,
    }
