"""Engine construction. Nothing connects at import time: callers build engines from settings."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine

from crmflow.settings import Settings


def make_engine(settings: Settings, *, pool_size: int | None = None) -> Engine:
    return create_engine(
        settings.database_url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=10,
        pool_pre_ping=True,
        future=True,
    )
