"""How a receiver's answer becomes an outcome (SPEC section 9), and Retry-After's two forms."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmflow_runner.sending.outcome import Delivered, Permanent, Transient
from crmflow_runner.sending.webhook import classify, retry_after_seconds

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, Delivered),
        (201, Delivered),
        (204, Delivered),
        (299, Delivered),
        (408, Transient),
        (429, Transient),
        (500, Transient),
        (502, Transient),
        (503, Transient),
        (504, Transient),
        (301, Permanent),
        (302, Permanent),
        (307, Permanent),
        (400, Permanent),
        (401, Permanent),
        (403, Permanent),
        (404, Permanent),
        (410, Permanent),
        (422, Permanent),
    ],
)
def test_status_classes(status: int, kind: type) -> None:
    assert isinstance(classify(status, {}, ""), kind)


def test_delivered_keeps_the_code_and_a_scrubbed_truncated_answer() -> None:
    outcome = classify(200, {}, "thanks ada@example.com +1 415 555 0187\n" + "x" * 1000)
    assert isinstance(outcome, Delivered) and outcome.provider_id == "200"
    assert outcome.detail is not None and len(outcome.detail) == 500
    assert "ada@example.com" not in outcome.detail and "555" not in outcome.detail
    assert "\n" not in outcome.detail
    assert classify(204, {}, "") == Delivered(provider_id="204", detail=None)


def test_a_redirect_says_it_was_not_followed() -> None:
    assert classify(302, {"location": "http://127.0.0.1/"}, "") == Permanent(
        "HTTP 302: redirects are not followed"
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("999999999", 86_400.0),  # capped at a day
        ("Mon, 07 Dec 2026 12:00:30 GMT", 30.0),
        ("Mon, 07 Dec 2026 11:59:00 GMT", 0.0),  # in the past: at once
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


def test_a_transient_answer_carries_retry_after() -> None:
    assert classify(503, {"retry-after": "9"}, "busy") == Transient("HTTP 503", 9.0)
    assert classify(429, {}, "") == Transient("HTTP 429", None)
