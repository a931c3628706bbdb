"""With PostgreSQL unreachable the API answers 503 with Retry-After, never a 500."""

import socket

from fastapi.testclient import TestClient

from crmflow.settings import Settings
from crmflow_api.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_database_is_a_503_to_retry():
    client = TestClient(create_app(Settings(pg_port=free_port())), raise_server_exceptions=False)
    response = client.post(
        "/api/patients", json={"firstName": "A", "lastName": "B"}, headers={"Authorization": "Bearer cf_x_y"}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "retry" in response.json()["detail"]
