"""Status of the CDC pipeline for /api/internal/outbox/publish: with Debezium there is nothing to
poll, so the seed's publisher route reports the connector and task states (Connect REST), the
restarts the connect-supervisor performed (its /status), the replication slot's lag, and the
outbox rows not yet seen downstream (status pending)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import Engine, text

from crmflow import cdc
from crmflow.connect import ConnectClient, ConnectError, root_cause
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
    name = settings.connector_name
    report: dict[str, Any] = {"name": name, "state": "UNKNOWN", "tasks": []}
    slot = DEFAULT_SLOT
    try:
        with ConnectClient(settings.connect_url, timeout=CONNECT_TIMEOUT) as client:
            status = client.status(name)
            if status is None:
                return {**report, "state": "NOT_FOUND"}, slot
            report["state"] = status.state
            report["error"] = status.cause
            report["tasks"] = [
                {"id": t.id, "state": t.state, "workerId": t.worker_id, "error": root_cause(t.trace)}
                for t in status.tasks
            ]
            slot = (client.config(name) or {}).get("slot.name", slot)
    except (ConnectError, ValueError) as exc:
        report.update(state="UNREACHABLE", error=str(exc))
    return report, slot


def restarts(settings: Settings) -> dict[str, Any]:
    """What the connect-supervisor did: restarts (count, last time, last error line, its cause);
    all None without a supervisor (Strimzi's autoRestart) or when it does not answer."""
    report: dict[str, Any] = {
        "source": settings.supervisor_url or None,
        "count": None,
        "lastRestartAt": None,
        "lastError": None,
        "lastCause": None,
    }
    if not settings.supervisor_url:
        return report
    try:
        body = httpx.get(f"{settings.supervisor_url.rstrip('/')}/status", timeout=CONNECT_TIMEOUT).json()
        return {
            **report,
            "count": int(body["restarts"]),
            "lastRestartAt": body["lastRestartAt"],
            "lastError": body["lastError"],
            "lastCause": body["lastCause"],
        }
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return {**report, "error": f"supervisor unreachable: {type(exc).__name__}"}


def pipeline_status(engine: Engine, settings: Settings) -> dict[str, Any]:
    connector, slot_name = connector_status(settings)  # before the DB: no transaction held over HTTP
    restarted = restarts(settings)
    with engine.connect() as conn:
        slot = conn.execute(_SLOT, {"slot": slot_name}).first()
        pending = conn.execute(_PENDING).one()
    return {
        "connector": connector,
        "restarts": restarted,
        "replicationSlot": {
            "name": slot_name,
            "exists": slot is not None,
            "active": bool(slot.active) if slot is not None else False,
            "lagBytes": int(slot.lag_bytes) if slot is not None and slot.lag_bytes is not None else None,
        },
        "pendingRows": int(pending.n),
        "oldestPendingSeconds": round(pending.oldest, 3) if pending.oldest is not None else None,
    }
