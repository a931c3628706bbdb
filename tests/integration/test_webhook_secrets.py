"""Practice webhook secrets in PostgreSQL (crmflow.webhook_secrets): one current secret per
practice, the previous one signing until its grace period ends, revocation, isolation."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import Engine, text

from crmflow.apikeys import create_practice
from crmflow.crm.entities import NotFound
from crmflow.webhook_secrets import SecretBox, SecretUnavailable, rotate, secret_status, signing_keys
from crmflow.webhook_signing import parse_secret

pytestmark = pytest.mark.integration

BOX = SecretBox("integration-test-key")


@pytest.fixture
def practice_id(engine: Engine) -> str:
    with engine.begin() as conn:
        return create_practice(conn, f"Secrets {uuid.uuid4().hex[:8]}")


def keys(engine: Engine, practice_id: str) -> list[bytes]:
    with engine.connect() as conn:
        return signing_keys(conn, practice_id, BOX)


def test_the_previous_secret_signs_until_its_grace_period_ends(engine: Engine, practice_id: str) -> None:
    with pytest.raises(SecretUnavailable):
        keys(engine, practice_id)
    with engine.begin() as conn:
        first = parse_secret(rotate(conn, practice_id, BOX, grace_seconds=2))
    assert keys(engine, practice_id) == [first]
    with engine.begin() as conn:
        second = parse_secret(rotate(conn, practice_id, BOX, grace_seconds=2))
        assert secret_status(conn, practice_id)["previousSignsUntil"] is not None
    assert keys(engine, practice_id) == [second, first]  # the current one first
    time.sleep(2.2)
    assert keys(engine, practice_id) == [second]
    with engine.begin() as conn:
        third = parse_secret(rotate(conn, practice_id, BOX, grace_seconds=60))
    assert keys(engine, practice_id) == [third, second]
    with engine.begin() as conn:  # the expired first one was deleted by that rotation
        count = conn.execute(
            text("SELECT count(*) FROM webhook_secrets WHERE practice_id = :p"), {"p": practice_id}
        ).scalar_one()
    assert count == 2


def test_revoking_ends_every_earlier_secret_at_once(engine: Engine, practice_id: str) -> None:
    with engine.begin() as conn:
        rotate(conn, practice_id, BOX, grace_seconds=3600)
        rotate(conn, practice_id, BOX, grace_seconds=3600)
        last = parse_secret(rotate(conn, practice_id, BOX, grace_seconds=3600, revoke_previous=True))
    assert keys(engine, practice_id) == [last]


def test_practices_do_not_share_secrets_and_unknown_practices_have_none(
    engine: Engine, practice_id: str
) -> None:
    with engine.begin() as conn:
        other = create_practice(conn, "Other")
        mine = parse_secret(rotate(conn, practice_id, BOX, grace_seconds=0))
        theirs = parse_secret(rotate(conn, other, BOX, grace_seconds=0))
    assert keys(engine, practice_id) == [mine] and keys(engine, other) == [theirs]
    with engine.begin() as conn, pytest.raises(NotFound):
        rotate(conn, str(uuid.uuid4()), BOX, grace_seconds=0)


def test_a_changed_server_key_is_reported_not_guessed(engine: Engine, practice_id: str) -> None:
    with engine.begin() as conn:
        rotate(conn, practice_id, BOX, grace_seconds=0)
    with engine.connect() as conn, pytest.raises(SecretUnavailable, match="CRMFLOW_SECRET_KEY"):
        signing_keys(conn, practice_id, SecretBox("a-different-key"))
