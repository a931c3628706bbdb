"""Helpers for tests of the running rules-api."""

from __future__ import annotations

from typing import Any

import httpx


def locs(response: httpx.Response) -> list[list[Any]]:
    """The field paths of a 422 answer (fails the test on any other status)."""
    assert response.status_code == 422, response.text
    return [e["loc"] for e in response.json()["detail"]]
