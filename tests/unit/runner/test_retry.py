"""How the runner classifies database failures (by SQLSTATE) and backs off."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from crmflow_runner.retry import backoff_seconds, error_summary, is_outage, is_transient


@pytest.mark.parametrize(
    ("error", "outage", "transient"),
    [
        (psycopg.errors.SerializationFailure("could not serialize"), False, True),
        (psycopg.errors.DeadlockDetected("deadlock"), False, True),
        (psycopg.OperationalError("server closed the connection unexpectedly"), True, True),
        (psycopg.errors.AdminShutdown("terminating connection"), True, True),
        (psycopg.errors.ConnectionFailure("connection failure"), True, True),
    ],
)
def test_operational_errors(error, outage, transient):
    wrapped = OperationalError("SELECT 1", {}, error)
    assert (is_outage(wrapped), is_transient(wrapped)) == (outage, transient)


def test_a_constraint_violation_is_permanent():
    wrapped = IntegrityError("INSERT", {}, psycopg.errors.ForeignKeyViolation("violates foreign key"))
    assert not is_transient(wrapped)
    assert error_summary(wrapped) == "ForeignKeyViolation [23503]: violates foreign key"


def test_backoff_is_jittered_below_an_exponential_cap():
    for attempt in range(1, 12):
        delays = [backoff_seconds(attempt, base=0.1, cap=5.0) for _ in range(50)]
        assert all(0 <= d <= min(5.0, 0.1 * 2 ** (attempt - 1)) for d in delays)
        assert len(set(delays)) > 1
