"""What one run's actions share while a batch executes, and the writes they defer."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, select

from crmflow.crm.models import is_uuid
from crmflow.crm.serialize import PATIENT_FIELDS, to_json
from crmflow.db.tables import patients
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
                conn.execute(table.insert(), batch)
        if self.rows:
            raise RuntimeError(f"deferred rows for unordered tables: {list(self.rows)}")


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
        found = self.conn.execute(select(patients).where(patients.c.id.in_(ids))).mappings()
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


@dataclass
class RunContext:
    command: dict[str, Any]
    writes: DeferredWrites
    patients: PatientCache
    attempt: int = 1
    context: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.context = build_context(self.command["event"] or {})

    @property
    def run_id(self) -> str:
        return str(self.command["runId"])

    @property
    def practice_id(self) -> str:
        return str(self.command["practiceId"])

    @property
    def cause(self) -> Cause:
        """Events caused by this run: same correlation, caused by the run, one level deeper."""
        return Cause(
            correlation_id=self.command["correlationId"],
            causation_id=self.run_id,
            depth=int(self.command["depth"]) + 1,
        )
