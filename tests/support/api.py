"""Helpers for tests of the running rules-api."""

from __future__ import annotations

from typing import Any

import httpx


def locs(response: httpx.Response) -> list[list[Any]]:
    """The field paths of a 422 answer (fails the test on any other status)."""
    assert response.status_code == 422, response.text
    return [e["loc"] for e in response.json()["detail"]]


def book(
    api: httpx.Client, first_name: str, last_name: str, starts_at: str = "2030-05-06T09:00:00Z"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new patient and a scheduled checkup of theirs, created through the API."""
    patient = api.post("/api/patients", json={"firstName": first_name, "lastName": last_name}).json()
    appointment = api.post(
        "/api/appointments",
        json={
            "patientId": patient["id"],
            "startsAt": starts_at,
            "visitType": "Checkup",
            "status": "scheduled",
        },
    ).json()
    return patient, appointment
