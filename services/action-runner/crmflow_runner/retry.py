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
