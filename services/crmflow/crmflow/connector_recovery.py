"""Recovery from a lost replication slot: ``crmflow connector recover``.

A slot that was dropped or invalidated (``wal_status = 'lost'``), or Connect offsets that point at
WAL the server no longer has, leave the connector unable to stream what was written meanwhile. The
recovery: unregister the connector with its stored offsets, drop what is left of the slot, register
the connector again (Debezium creates a new slot, streaming from now on: ``snapshot.mode=no_data``),
then re-emit every outbox row still ``pending`` that was written before the new slot existed: the
row is deleted and inserted again, unchanged, so the publication streams it once more with its own
event id. Rows that had been streamed but not yet marked published come twice: the evaluator
and the runner dedupe them (run id = uuid5(event id, rule id)), so effects stay exactly once.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

from crmflow.connect import ConnectClient
from crmflow.connector_registration import register
from crmflow.settings import Settings

_SLOT = text("SELECT active, active_pid, wal_status FROM pg_replication_slots WHERE slot_name = :slot")
_DROP = text("SELECT pg_drop_replication_slot(:slot)")
_NOW = text("SELECT clock_timestamp()")
# Deleted and inserted again in one statement: the publication (insert-only) streams the insert.
_REEMIT = text(
    """
    WITH gone AS (
        DELETE FROM outbox_events WHERE status = 'pending' AND created_at < :cutoff RETURNING *
    )
    INSERT INTO outbox_events SELECT * FROM gone RETURNING id::text
    """
)


def drop_slot(engine: Engine, slot: str, timeout: float) -> str | None:
    """Drop ``slot`` if it exists, once inactive (a stopped task's session may linger a moment);
    returns the wal_status it had."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.begin() as conn:
            row = conn.execute(_SLOT, {"slot": slot}).first()
            if row is None:
                return None
            if not row.active:
                conn.execute(_DROP, {"slot": slot})
                return str(row.wal_status)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"replication slot {slot} still in use by pid {row.active_pid}: stop its consumer"
            )
        time.sleep(0.2)


def wait_slot_active(engine: Engine, slot: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            row = conn.execute(_SLOT, {"slot": slot}).first()
        if row is not None and row.active:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"replication slot {slot} not active {timeout} s after the registration")
        time.sleep(0.2)


def recover(settings: Settings, engine: Engine, connector: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run the whole recovery; returns what it did (the re-emitted event ids included)."""
    name = connector["name"]
    slot = connector["config"].get("slot.name", "debezium")
    with ConnectClient(settings.connect_url, timeout=30) as client:
        unregistered = client.unregister(name, timeout=timeout)
    dropped = drop_slot(engine, slot, timeout)
    register(settings.connect_url, connector, timeout)
    wait_slot_active(engine, slot, timeout)
    with engine.begin() as conn:
        cutoff: datetime = conn.execute(_NOW).scalar_one()
        reemitted = sorted(conn.execute(_REEMIT, {"cutoff": cutoff}).scalars())
    return {
        "connector": name,
        "unregistered": unregistered,
        "slot": slot,
        "droppedSlotWalStatus": dropped,
        "newSlotAt": cutoff.isoformat(),
        "reemitted": reemitted,
    }
