"""Classifying database failures and backing off between attempts."""

from __future__ import annotations

import random

import psycopg
from sqlalchemy.exc import DBAPIError

# SQLSTATEs of a server going away: connection exceptions (class 08), and shutdown/startup.
_OUTAGE_STATES = ("08", "57P01", "57P02", "57P03")
# Transaction rollback (class 40): serialization failure, deadlock; worth a bounded retry.
_CONFLICT_CLASS = "40"


def _sqlstate(exc: BaseException) -> str | None:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return getattr(orig, "sqlstate", None)


def is_outage(exc: BaseException) -> bool:
    """The database is unreachable (down, restarting, connection lost): wait, never give up."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if not isinstance(orig, psycopg.OperationalError):
        return False
    state = _sqlstate(exc)
    return state is None or state.startswith(_OUTAGE_STATES)  # no SQLSTATE: the client lost it


def is_transient(exc: BaseException) -> bool:
    """Worth retrying a bounded number of times (serialization failure, deadlock), or an outage.

    Classified by SQLSTATE: psycopg's SerializationFailure is not a TransactionRollback subclass.
    """
    state = _sqlstate(exc)
    return is_outage(exc) or (state is not None and state.startswith(_CONFLICT_CLASS))


def backoff_seconds(attempt: int, *, base: float = 0.1, cap: float = 10.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2 ** max(0, attempt - 1)))


def error_summary(exc: BaseException) -> str:
    """Type, SQLSTATE and the first line of the message: enough to act on, no row values."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    sqlstate = getattr(orig, "sqlstate", None)
    first_line = (str(orig).splitlines() or [""])[0][:300]
    return f"{type(orig).__name__}{f' [{sqlstate}]' if sqlstate else ''}: {first_line}"
