"""Error responses: 422 in FastAPI's format from domain validation, 404 for other tenants."""

from __future__ import annotations

from typing import NoReturn

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from crmflow.crm.models import is_uuid
from crmflow.validation import FieldError


def raise_field_errors(errors: list[FieldError], prefix: tuple[str, ...] = ("body",)) -> NoReturn:
    raise RequestValidationError([{"loc": [*prefix, *e.loc], "msg": e.msg, "type": e.type} for e in errors])


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"{what} not found")


def require_uuid(value: str, what: str) -> str:
    """Ids are UUIDs; anything else cannot exist (404, same as another practice's id)."""
    if not is_uuid(value):
        raise not_found(what)
    return value
