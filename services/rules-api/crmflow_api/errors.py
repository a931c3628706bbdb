"""Error responses: 422 in FastAPI's format from domain validation, 404 for other tenants, and
the error shapes every route documents in the OpenAPI spec."""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from crmflow.crm.models import is_uuid
from crmflow.validation import FieldError


class ErrorOut(BaseModel):
    detail: str


def _doc(text: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": text}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _doc("Missing or invalid API key"),
    413: _doc("Body over the size limit (256 KiB)"),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _doc("No such resource in the caller's practice")}
BAD_BODY: dict[int | str, dict[str, Any]] = {400: _doc("The body is not JSON")}


def raise_field_errors(errors: list[FieldError], prefix: tuple[str, ...] = ("body",)) -> NoReturn:
    raise RequestValidationError([e.with_prefix(*prefix).to_dict() for e in errors])


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"{what} not found")


def require_uuid(value: str, what: str) -> str:
    """Ids are UUIDs; anything else cannot exist (404, same as another practice's id)."""
    if not is_uuid(value):
        raise not_found(what)
    return value
