"""Request dependencies: the database connection, the caller's practice, the internal key."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine

from crmflow.apikeys import practice_for_key, prefix_of
from crmflow.audit import actor_of_key
from crmflow.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="The practice's API key.")
_internal_key = APIKeyHeader(
    name="X-Internal-Api-Key", auto_error=False, description="INTERNAL_API_KEY, for /api/internal/*."
)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def transaction(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """One transaction per request: entity writes and their outbox rows commit together."""
    with engine.begin() as conn:
        yield conn


# scope="function": commit before the response is sent, so a 2xx means committed (with the
# default scope FastAPI runs the commit after sending, and a failed commit still answered 200).
Db = Annotated[Connection, Depends(transaction, scope="function")]


def bearer_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The Bearer key as sent (401 without one), checked before any connection is taken."""
    key = credentials.credentials.strip() if credentials is not None else ""
    if not key:
        raise HTTPException(
            401, "missing API key (Authorization: Bearer <key>)", headers={"WWW-Authenticate": "Bearer"}
        )
    return key


def _practice(conn: Connection, key: str, settings: Settings) -> str:
    practice_id = practice_for_key(conn, key, settings.api_key_secret)
    if practice_id is None:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return practice_id


def current_practice(
    key: Annotated[str, Depends(bearer_key)],
    db: Db,
    settings: Annotated[Settings, Depends(get_settings)],
) -> str:
    """The practice of the Bearer key (401 otherwise), looked up in the request's transaction:
    the route's ``Db`` is the same cached dependency, so a request takes one pool connection."""
    return _practice(db, key, settings)


def current_actor(
    key: Annotated[str, Depends(bearer_key)],
    _practice_id: Annotated[str, Depends(current_practice)],
) -> str:
    """Who makes a change, for rule versions and the audit log: the (valid) key's prefix."""
    return actor_of_key(prefix_of(key))


def practice_without_transaction(
    key: Annotated[str, Depends(bearer_key)],
    engine: Annotated[Engine, Depends(get_engine)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> str:
    """Same, on a short connection of its own: for routes that wait (the Test button) and so
    must not hold a transaction while they do."""
    with engine.connect() as conn:
        return _practice(conn, key, settings)


def internal_caller(
    settings: Annotated[Settings, Depends(get_settings)],
    x_internal_api_key: Annotated[str | None, Depends(_internal_key)],
) -> None:
    """``X-Internal-Api-Key`` must equal INTERNAL_API_KEY; unset -> internal routes disabled (403)."""
    if not settings.internal_api_key:
        raise HTTPException(403, "internal API disabled (INTERNAL_API_KEY is not set)")
    if x_internal_api_key is None or not hmac.compare_digest(
        x_internal_api_key.encode(), settings.internal_api_key.encode()
    ):
        raise HTTPException(401, "missing or invalid X-Internal-Api-Key")


def _query_names(dependant: Dependant) -> set[str]:
    names = {f.alias for f in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def refuse_unknown_query(request: Request) -> None:
    """Unknown query parameters of /api routes are refused like unknown body fields (422)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if not request.query_params or dependant is None or not request.url.path.startswith("/api/"):
        return
    unknown = sorted(set(request.query_params) - _query_names(dependant))
    if unknown:
        raise RequestValidationError(
            [
                {"loc": ["query", name], "msg": "unknown query parameter", "type": "extra_forbidden"}
                for name in unknown
            ]
        )


Eng = Annotated[Engine, Depends(get_engine)]
PracticeId = Annotated[str, Depends(current_practice)]
Actor = Annotated[str, Depends(current_actor)]
PracticeIdNoTransaction = Annotated[str, Depends(practice_without_transaction)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Internal = Depends(internal_caller)
