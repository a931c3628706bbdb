"""With PostgreSQL unreachable the API answers 503 with Retry-After, never a 500."""

from fastapi.testclient import TestClient

from crmflow.settings import Settings
from crmflow_api.app import create_app


def test_an_unreachable_database_is_a_503_to_retry(no_database: Settings):
    client = TestClient(create_app(no_database), raise_server_exceptions=False)
    response = client.post(
        "/api/patients", json={"firstName": "A", "lastName": "B"}, headers={"Authorization": "Bearer cf_x_y"}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "retry" in response.json()["detail"]
