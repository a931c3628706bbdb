"""Classifying database failures and backing off between attempts."""

from __future__ import annotations

import random

import psycopg
from sqlalchemy.exc import DBAPIError


def is_outage(exc: BaseException) -> bool:
    """The database is unreachable (down, restarting, connection lost): wait, never give up."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig or exc
    return isinstance(exc, psycopg.OperationalError) and not isinstance(
        exc, psycopg.errors.TransactionRollback
    )


def is_transient(exc: BaseException) -> bool:
    """Worth retrying a bounded number of times (serialization failure, deadlock, outage)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return is_outage(exc) or isinstance(orig, psycopg.errors.TransactionRollback)


def backoff_seconds(attempt: int, *, base: float = 0.1, cap: float = 10.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2 ** max(0, attempt - 1)))


def error_summary(exc: BaseException) -> str:
    """Type, SQLSTATE and the first line of the message: enough to act on, no row values."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    sqlstate = getattr(orig, "sqlstate", None)
    first_line = (str(orig).splitlines() or [""])[0][:300]
    return f"{type(orig).__name__}{f' [{sqlstate}]' if sqlstate else ''}: {first_line}"
