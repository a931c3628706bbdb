"""What a send_webhook sends (the body and headers the runner and the dry run share) and how the
practices' secrets are encrypted at rest."""

from __future__ import annotations

import json
import time

import pytest
import standardwebhooks

from crmflow.webhook_request import ENVELOPE_KEYS, body_text, envelope_body, signed_request
from crmflow.webhook_secrets import SecretBox, SecretUnavailable
from crmflow.webhook_signing import format_secret, new_key

EVENT = {
    "id": "e1",
    "practiceId": "p1",
    "name": "crm/patient.created",
    "entityType": "patient",
    "entityId": "pt1",
    "occurredAt": "2026-12-07T10:00:00+00:00",
    "data": {"patient": {"id": "pt1", "firstName": "Zoë"}},
    "correlationId": "e1",
    "causationId": None,
    "depth": 0,
    "onlyRuleId": "r1",
}


def test_the_default_body_is_the_envelope_without_the_test_marker() -> None:
    assert set(envelope_body(EVENT)) == set(ENVELOPE_KEYS)
    assert json.loads(body_text(None, EVENT)) == {k: v for k, v in EVENT.items() if k != "onlyRuleId"}


def test_a_given_body_is_sent_as_compact_utf8_json() -> None:
    assert body_text({"name": "Zoë", "n": [1, 2]}, EVENT) == '{"name":"Zoë","n":[1,2]}'
    assert body_text([], EVENT) == "[]"


def test_the_signed_request_keeps_the_rules_headers_and_sets_the_signature_last() -> None:
    key = new_key()
    request = signed_request(
        "https://h.example/x",
        '{"a":1}',
        {"Content-Type": "application/cloudevents+json"},
        [key],
        "m1",
        int(time.time()),
    )
    assert request.headers["Content-Type"] == "application/cloudevents+json"
    assert "content-type" not in request.headers  # not doubled in another case
    assert request.headers["user-agent"].startswith("crmflow-webhooks/")
    assert list(request.headers)[-3:] == ["webhook-id", "webhook-timestamp", "webhook-signature"]
    standardwebhooks.Webhook(format_secret(key)).verify(b'{"a":1}', request.headers)


def test_secrets_are_encrypted_and_the_server_key_can_be_rotated() -> None:
    plain = new_key()
    old = SecretBox("old-server-key")
    token = old.encrypt(plain)
    assert plain.hex() not in token and format_secret(plain) not in token
    assert old.decrypt(token) == plain
    rotated = SecretBox("new-server-key, old-server-key")  # the first encrypts, each decrypts
    assert rotated.decrypt(token) == plain
    assert SecretBox("new-server-key").decrypt(rotated.encrypt(plain)) == plain
    with pytest.raises(SecretUnavailable) as info:
        SecretBox("another-key").decrypt(token)
    assert "CRMFLOW_SECRET_KEY" in str(info.value)
    with pytest.raises(ValueError):
        SecretBox(" , ")
