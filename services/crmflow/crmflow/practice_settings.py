"""Read and change a practice's settings (SPEC sections 8 and 13): its time zone, quiet hours and
frequency caps (``messageCaps``).

Every writer (the rules-api, ``crmflow practice set``) goes through :func:`update_settings`, which
checks the values against the shipped zone database and :class:`QuietHours`: nothing else can
store a zone the due-time code cannot load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import Connection, RowMapping, func, null, select, update

from crmflow import audit
from crmflow.crm.entities import NotFound
from crmflow.db.tables import practices
from crmflow.message_caps import MessageCaps
from crmflow.quiet_hours import QuietHours
from crmflow.timezones import DEFAULT_ZONE, UnknownTimeZone, is_zone
from crmflow.validation import DomainValidationError, FieldError, extra_field_errors

SETTINGS: Final = ("timeZone", "quietHours", "messageCaps")
_COLUMN: Final = {"timeZone": "time_zone", "quietHours": "quiet_hours", "messageCaps": "message_caps"}


def _to_json(row: RowMapping) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "timeZone": row["time_zone"],
        "quietHours": row["quiet_hours"],
        "messageCaps": row["message_caps"],
        "createdAt": row["created_at"].isoformat(),
        "updatedAt": row["updated_at"].isoformat(),
    }


_COLUMNS: Final = (
    practices.c.id,
    practices.c.name,
    practices.c.time_zone,
    practices.c.quiet_hours,
    practices.c.message_caps,
    practices.c.created_at,
    practices.c.updated_at,
)


def settings_errors(values: Mapping[str, Any]) -> list[FieldError]:
    """Every problem of a settings change ``{timeZone?, quietHours?}`` (locs ``("timeZone",)``,
    ``("quietHours", "start")``...)."""
    errors = extra_field_errors(values, SETTINGS)
    zone_name = values.get("timeZone", DEFAULT_ZONE)
    if not isinstance(zone_name, str):
        errors.append(FieldError(("timeZone",), "timeZone must be a string (an IANA name)", "string_type"))
    elif not is_zone(zone_name):
        errors.append(FieldError(("timeZone",), str(UnknownTimeZone(zone_name)), "time_zone"))
    if values.get("quietHours") is not None:
        try:
            QuietHours.from_json(values["quietHours"])
        except DomainValidationError as exc:
            errors += [e.with_prefix("quietHours") for e in exc.errors]
    if values.get("messageCaps") is not None:
        try:
            MessageCaps.from_json(values["messageCaps"])
        except DomainValidationError as exc:
            errors += [e.with_prefix("messageCaps") for e in exc.errors]
    return errors


def get_practice(conn: Connection, practice_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The practice ``{id, name, timeZone, quietHours, createdAt, updatedAt}``."""
    query = select(*_COLUMNS).where(practices.c.id == practice_id)
    if lock:  # concurrent changes apply one after the other; FOR NO KEY UPDATE as in crm.entities
        query = query.with_for_update(key_share=True)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound("practice", practice_id)
    return _to_json(row)


def update_settings(
    conn: Connection, practice_id: str, values: Mapping[str, Any], *, actor: str = audit.CLI
) -> dict[str, Any]:
    """Apply ``{timeZone?, quietHours?, messageCaps?}`` (None clears quietHours or messageCaps);
    returns the practice.

    :class:`DomainValidationError` when a value is invalid (nothing is written). ``updatedAt`` moves
    only when a value changes, and only then is the change audited (``practice.settings``, the
    changed settings before and after).
    """
    errors = settings_errors(values)
    if errors:
        raise DomainValidationError(errors)
    current = get_practice(conn, practice_id, lock=True)
    changed = {
        _COLUMN[name]: null() if values[name] is None else values[name]  # SQL NULL, not JSON null
        for name in SETTINGS
        if name in values and values[name] != current[name]
    }
    if not changed:
        return current
    row = (
        conn.execute(
            update(practices)
            .where(practices.c.id == practice_id)
            .values(updated_at=func.clock_timestamp(), **changed)
            .returning(*_COLUMNS)
        )
        .mappings()
        .one()
    )
    practice = _to_json(row)
    names = [name for name in SETTINGS if _COLUMN[name] in changed]
    audit.record(
        conn,
        practice_id=practice_id,
        actor=actor,
        action="practice.settings",
        entity_type="practice",
        entity_id=practice_id,
        before={name: current[name] for name in names},
        after={name: practice[name] for name in names},
    )
    return practice
