"""Standard Webhooks signatures, checked against an independent implementation (the
``standardwebhooks`` package) and against the published algorithm written out here."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
import standardwebhooks
from hypothesis import given
from hypothesis import strategies as st

from crmflow.webhook_signing import (
    KEY_BYTES,
    SIGNATURE_HEADER,
    InvalidSecret,
    format_secret,
    new_key,
    parse_secret,
    sign,
    signature,
)

# The example of the Standard Webhooks specification (and of every reference library's tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specification_example() -> None:
    assert signature(parse_secret(SPEC_SECRET), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_published_algorithm_written_out() -> None:
    key = new_key()
    expected = base64.b64encode(
        hmac.new(key, f"{SPEC_ID}.{SPEC_TIMESTAMP}.".encode() + SPEC_BODY, hashlib.sha256).digest()
    ).decode()
    assert signature(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == f"v1,{expected}"


@given(body=st.binary(max_size=2_000), message_id=st.from_regex(r"[A-Za-z0-9_:-]{1,60}", fullmatch=True))
def test_the_standardwebhooks_package_verifies_what_we_sign(body: bytes, message_id: str) -> None:
    key = new_key()
    now = int(datetime.now(UTC).timestamp())
    headers = sign([key], message_id, now, body).as_dict()
    standardwebhooks.Webhook(format_secret(key)).verify(body, headers, json_parse=False)


def test_during_a_rotation_a_receiver_with_either_secret_verifies() -> None:
    new, previous, stranger = new_key(), new_key(), new_key()
    now = int(datetime.now(UTC).timestamp())
    headers = sign([new, previous], "msg_1", now, b"{}").as_dict()
    assert len(headers[SIGNATURE_HEADER].split(" ")) == 2
    for key in (new, previous):
        standardwebhooks.Webhook(format_secret(key)).verify(b"{}", headers, json_parse=False)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(format_secret(stranger)).verify(b"{}", headers, json_parse=False)


def test_a_changed_body_id_or_timestamp_fails_verification() -> None:
    key = new_key()
    now = int(datetime.now(UTC).timestamp())
    headers = sign([key], "msg_1", now, b'{"a":1}').as_dict()
    hook = standardwebhooks.Webhook(format_secret(key))
    for body, changed in (
        (b'{"a":2}', {}),
        (b'{"a":1}', {"webhook-id": "msg_2"}),
        (b'{"a":1}', {"webhook-timestamp": str(now - 1)}),
    ):
        with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
            hook.verify(body, {**headers, **changed}, json_parse=False)


def test_secrets_round_trip_and_bad_ones_are_refused_without_echo() -> None:
    key = new_key()
    assert len(key) == KEY_BYTES
    assert format_secret(key).startswith("whsec_")
    assert parse_secret(format_secret(key)) == key
    assert parse_secret(format_secret(key).removeprefix("whsec_")) == key
    for bad in ("whsec_", "whsec_not base64!", ""):
        with pytest.raises(InvalidSecret) as info:
            parse_secret(bad)
        assert str(info.value) in {
            "a webhook secret is whsec_ followed by base64",
            "a webhook secret may not be empty",
        }


def test_ids_that_would_break_the_header_are_refused() -> None:
    for bad in ("", "a b", "a\r\nX: y"):
        with pytest.raises(ValueError):
            sign([new_key()], bad, 1, b"")
    with pytest.raises(InvalidSecret):
        sign([], "msg", 1, b"")
