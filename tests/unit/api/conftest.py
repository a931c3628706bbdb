"""Apps of these tests run without a database: their settings point at a port nothing listens on,
so a route that touches PostgreSQL answers 503 instead of quietly using whatever stack is up."""

from __future__ import annotations

import socket

import pytest

from crmflow.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_database() -> Settings:
    return Settings(pg_port=free_port())
