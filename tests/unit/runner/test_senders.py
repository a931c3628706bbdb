"""The senders' pure parts: settings, message building, classification of answers, scrubbing."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from crmflow.settings import Settings
from crmflow_runner.sending.outcome import Delivered, OutboundMessage, Permanent, Transient
from crmflow_runner.sending.registry import build_senders
from crmflow_runner.sending.scrub import scrub
from crmflow_runner.sending.sms import SmsConfig, classify, retry_after
from crmflow_runner.sending.smtp import SmtpConfig, _by_code, build, message_id

MESSAGE = OutboundMessage(
    channel="email",
    idempotency_key="run-1.0",
    practice_id="p",
    to="ann@example.test",
    body="Hello Ann",
    subject="Your visit",
)


def test_the_smtp_url_and_its_defaults() -> None:
    assert SmtpConfig.from_settings(Settings(smtp_url=None)) is None
    c = SmtpConfig.from_settings(Settings(smtp_url="smtp://mail.test:2525", smtp_starttls=True))
    assert c is not None and (c.host, c.port, c.tls, c.starttls, c.username) == (
        "mail.test",
        2525,
        False,
        True,
        None,
    )
    c = SmtpConfig.from_settings(Settings(smtp_url="smtps://u%40x:pw@mail.test"))
    assert c is not None and (c.port, c.tls, c.username, c.password) == (465, True, "u@x", "pw")
    c = SmtpConfig.from_settings(
        Settings(smtp_url="smtp://u:pw@mail.test", smtp_username="other", smtp_password="secret")
    )
    assert c is not None and (c.port, c.username, c.password) == (25, "other", "secret")
    with pytest.raises(ValueError, match="CRMFLOW_SMTP_URL"):
        SmtpConfig.from_settings(Settings(smtp_url="http://mail.test"))


def test_every_attempt_carries_the_same_message_id() -> None:
    mail = build(MESSAGE, "clinic@crmflow.test")
    assert mail["Message-ID"] == message_id("run-1.0", "clinic@crmflow.test") == "<run-1.0@crmflow.test>"
    assert build(MESSAGE, "clinic@crmflow.test")["Message-ID"] == mail["Message-ID"]
    assert (mail["From"], mail["To"], mail["Subject"]) == (
        "clinic@crmflow.test",
        "ann@example.test",
        "Your visit",
    )
    assert mail.get_content().strip() == "Hello Ann"
    assert message_id("k", "no-at-sign") == "<k@no-at-sign>"


def test_smtp_reply_codes() -> None:
    assert isinstance(_by_code(451, "busy"), Transient)
    assert isinstance(_by_code(421, "closing"), Transient)
    assert isinstance(_by_code(550, "no such user"), Permanent)
    assert isinstance(_by_code(554, "rejected"), Permanent)


def _response(status: int, body: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_sms_answers() -> None:
    assert classify(_response(201, {"sid": "SM1"})) == Delivered(provider_id="SM1", detail="http 201")
    assert classify(_response(200, {})) == Delivered(provider_id=None, detail="http 200")
    assert classify(_response(400, {"code": 21211, "message": "Invalid 'To' +15550001"})) == Permanent(
        "http 400 (provider code 21211)"
    )
    assert classify(_response(401)) == Permanent("http 401")
    assert classify(_response(429, {}, {"Retry-After": "7"})) == Transient("http 429", retry_after=7.0)
    assert classify(_response(408)) == Transient("http 408", retry_after=None)
    assert classify(_response(503, {"code": 1})) == Transient("http 503 (provider code 1)", retry_after=None)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    assert retry_after("120", now) == 120.0
    assert retry_after("Mon, 07 Dec 2026 12:00:30 GMT", now) == 30.0
    assert retry_after("Mon, 07 Dec 2026 11:00:00 GMT", now) == 0.0
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None


def test_sms_settings_must_be_complete() -> None:
    assert SmsConfig.from_settings(Settings(sms_api_url=None)) is None
    with pytest.raises(ValueError, match="CRMFLOW_SMS_AUTH_TOKEN"):
        SmsConfig.from_settings(
            # explicit None: a session's reach fixture puts a token in the environment
            Settings(
                sms_api_url="http://sms.test", sms_account_sid="AC1", sms_from="+1555", sms_auth_token=None
            )
        )
    c = SmsConfig.from_settings(
        Settings(sms_api_url="http://sms.test/", sms_account_sid="AC1", sms_auth_token="t", sms_from="+1555")
    )
    assert c is not None and c.messages_url == "http://sms.test/2010-04-01/Accounts/AC1/Messages.json"


def test_the_registry_has_a_sender_only_for_configured_channels() -> None:
    # webhooks need no provider account: their sender is always there
    assert set(build_senders(Settings(smtp_url=None, sms_api_url=None))) == {"webhook"}
    senders = build_senders(Settings(smtp_url="smtp://127.0.0.1:2525", sms_api_url=None))
    assert set(senders) == {"email", "webhook"} and senders["email"].channel == "email"


def test_provider_answers_lose_addresses_and_numbers() -> None:
    text = "550 5.1.1 <ann.lee@example.test>: Recipient address rejected; To +44 20 7946 0321 invalid"
    cleaned = scrub(text)
    assert "ann.lee" not in cleaned and "7946" not in cleaned
    assert cleaned == "550 5.1.1 <[address]>: Recipient address rejected; To [number] invalid"
    assert len(scrub("x" * 1000, 300)) == 300
    assert scrub("line one\n  line two") == "line one line two"
