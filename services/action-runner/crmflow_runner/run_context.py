"""What one run's actions share while a batch executes, and the writes they defer."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

import psycopg
from psycopg import sql
from sqlalchemy import JSON, Connection, Table, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from crmflow.commands import RunCommandDict
from crmflow.crm.models import is_uuid
from crmflow.crm.serialize import PATIENT_FIELDS, to_json
from crmflow.db.tables import patients, practices
from crmflow.outbox import Cause
from crmflow.templates import build_context
from crmflow_runner.errors import PermanentActionError


@dataclass
class DeferredWrites:
    """Rows inserted in bulk at the end of the batch's transaction (same transaction)."""

    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, table: Table, row: dict[str, Any]) -> None:
        self.rows[table].append(row)

    def flush(self, conn: Connection, order: list[Table]) -> None:
        for table in order:
            batch = self.rows.pop(table, None)
            if batch:
                _copy(conn, table, batch)
        if self.rows:
            raise RuntimeError(f"deferred rows for unordered tables: {list(self.rows)}")


def _copy(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows with one COPY on the transaction's connection: one statement whatever the
    number of rows (no per-row INSERT to bind and execute); column defaults apply as in an INSERT.
    Every row of a table has the same keys (they are built in one place each)."""
    names = tuple(rows[0])
    statement, json_at = _copy_statement(table, names)
    driver = cast("psycopg.Connection[Any]", conn.connection.driver_connection)  # the transaction's
    with driver.cursor().copy(statement) as copy:
        for row in rows:
            values = [row[name] for name in names]
            for i in json_at:  # None as JSON null, as the JSONB column type binds it
                values[i] = json.dumps(values[i])
            copy.write_row(values)


@lru_cache(maxsize=64)
def _copy_statement(table: Table, names: tuple[str, ...]) -> tuple[sql.Composed, list[int]]:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    return statement, [i for i, name in enumerate(names) if isinstance(table.c[name].type, JSON)]


UUIDS = ARRAY(UUID(as_uuid=False))
"""An array of uuids (as strings), bound whole: one fixed statement whatever the number of ids."""
_NOW = select(func.clock_timestamp())
_PATIENTS = select(patients).where(patients.c.id == any_(bindparam("ids", type_=UUIDS)))
_ZONE = select(practices.c.time_zone).where(practices.c.id == bindparam("id"))


class PatientCache:
    """Patients (JSON form) read once per batch; updates write through so later actions see them."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._rows: dict[tuple[str, str], dict[str, Any] | None] = {}

    def preload(self, keys: set[tuple[str, str]]) -> None:
        missing = {k for k in keys if k not in self._rows}
        if not missing:
            return
        ids = [pid for _, pid in missing if is_uuid(pid)]
        found = self.conn.execute(_PATIENTS, {"ids": ids}).mappings()
        by_id = {str(r["id"]): to_json(r, PATIENT_FIELDS) for r in found}
        for practice_id, patient_id in missing:
            patient = by_id.get(patient_id)
            self._rows[(practice_id, patient_id)] = (
                patient if patient is not None and patient["practiceId"] == practice_id else None
            )

    def get(self, practice_id: str, patient_id: str) -> dict[str, Any]:
        """The patient, which must belong to the practice (else a permanent error)."""
        key = (practice_id, patient_id)
        if not is_uuid(patient_id):
            raise PermanentActionError(f"patientId {patient_id[:64]!r} is not a patient id")
        if key not in self._rows:
            self.preload({key})
        row = self._rows[key]
        if row is None:
            raise PermanentActionError(f"patient {patient_id} not found in this practice")
        return row

    def put(self, practice_id: str, patient: dict[str, Any]) -> None:
        self._rows[(practice_id, patient["id"])] = patient


class PracticeZones:
    """Practices' time zones (``delay_until``'s ``atLocalTime``), read once per batch."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._zones: dict[str, str] = {}

    def get(self, practice_id: str) -> str:
        if practice_id not in self._zones:
            zone_name = self.conn.execute(_ZONE, {"id": practice_id}).scalar_one_or_none()
            if zone_name is None:
                raise PermanentActionError(f"practice {practice_id} not found")
            self._zones[practice_id] = zone_name
        return self._zones[practice_id]

    def put(self, practice_id: str, zone_name: str) -> None:
        self._zones[practice_id] = zone_name


def db_now(conn: Connection) -> datetime:
    """The database's clock: what the scheduler compares due times with and what column
    defaults stamp, so a time computed here agrees with them whatever the host's clock says."""
    return conn.execute(_NOW).scalar_one()


@dataclass
class RunContext:
    command: RunCommandDict
    writes: DeferredWrites
    patients: PatientCache
    attempt: int = 1
    zones: PracticeZones | None = None  # None: read through the patients' connection
    context: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.context = build_context(self.command.get("event") or {})
        waited = self.command.get("waitedEvent")
        if waited is not None:  # a wait_for_event took it (SPEC section 13)
            self.context["waitedEvent"] = waited
        else:  # absent until then (a same-named data key would lie)
            self.context.pop("waitedEvent", None)

    def set_waited_event(self, event: dict[str, Any]) -> None:
        """A ``wait_for_event`` took ``event``: later actions (and a resume stored later) see it
        as ``waitedEvent``."""
        self.command = {**self.command, "waitedEvent": event}
        self.context["waitedEvent"] = event

    @property
    def run_id(self) -> str:
        return self.command["runId"]

    @property
    def practice_id(self) -> str:
        return self.command["practiceId"]

    def db_now(self) -> datetime:
        """The database's clock (:func:`db_now`)."""
        return db_now(self.patients.conn)

    def time_zone(self) -> str:
        """The practice's IANA time zone."""
        if self.zones is None:
            self.zones = PracticeZones(self.patients.conn)
        return self.zones.get(self.practice_id)

    @property
    def cause(self) -> Cause:
        """Events caused by this run: same correlation, caused by the run, one level deeper."""
        return Cause(
            correlation_id=self.command["correlationId"],
            causation_id=self.run_id,
            depth=int(self.command["depth"]) + 1,
        )
