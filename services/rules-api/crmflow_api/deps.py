"""Request dependencies: the database connection and the caller's practice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy import Connection, Engine

from crmflow.apikeys import practice_for_key
from crmflow.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def transaction(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """One transaction per request: entity writes and their outbox rows commit together."""
    with engine.begin() as conn:
        yield conn


def current_practice(
    request: Request,
    conn: Annotated[Connection, Depends(transaction)],
    authorization: Annotated[str | None, Header()] = None,
) -> str:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise HTTPException(
            401, "missing API key (Authorization: Bearer <key>)", headers={"WWW-Authenticate": "Bearer"}
        )
    practice_id = practice_for_key(conn, key.strip(), request.app.state.settings.api_key_secret)
    if practice_id is None:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return practice_id


Db = Annotated[Connection, Depends(transaction)]
PracticeId = Annotated[str, Depends(current_practice)]
AppSettings = Annotated[Settings, Depends(get_settings)]
