"""``send_sms`` through an HTTP SMS provider speaking the Twilio Messages REST shape (SPEC 9).

``POST {CRMFLOW_SMS_API_URL}/2010-04-01/Accounts/{sid}/Messages.json`` with the form fields
``To``, ``From``, ``Body``, HTTP basic auth (account sid, auth token), and an ``Idempotency-Key``
header (the message's idempotency key, the same on every attempt); the JSON reply's ``sid`` is the
provider id.

Outcomes: 2xx -> Delivered; 408, 429, 5xx, a timeout or a connection error -> Transient
(``Retry-After`` honoured); any other answer -> Permanent (the provider's error code kept, never
its message, which may quote the number).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from crmflow.settings import Settings
from crmflow_runner.sending.outcome import Channel, Delivered, OutboundMessage, Outcome, Permanent, Transient

TRANSIENT_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class SmsConfig:
    base_url: str
    account_sid: str
    auth_token: str
    sender: str
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsConfig | None:
        if not settings.sms_api_url:
            return None
        missing = [
            name
            for name, value in (
                ("CRMFLOW_SMS_ACCOUNT_SID", settings.sms_account_sid),
                ("CRMFLOW_SMS_AUTH_TOKEN", settings.sms_auth_token),
                ("CRMFLOW_SMS_FROM", settings.sms_from),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"CRMFLOW_SMS_API_URL is set but {', '.join(missing)} not")
        return cls(
            base_url=settings.sms_api_url.rstrip("/"),
            account_sid=str(settings.sms_account_sid),
            auth_token=str(settings.sms_auth_token),
            sender=str(settings.sms_from),
            timeout=settings.sms_timeout_seconds,
        )

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(response: httpx.Response) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        try:
            sid = response.json().get("sid")
        except (ValueError, AttributeError):
            sid = None
        return Delivered(provider_id=str(sid) if sid else None, detail=f"http {status}")
    code = None
    with contextlib.suppress(ValueError, AttributeError):
        code = response.json().get("code")
    error = f"http {status}" + (f" (provider code {code})" if isinstance(code, int | str) else "")
    if status in TRANSIENT_STATUSES or status >= 500:
        return Transient(error, retry_after=retry_after(response.headers.get("Retry-After")))
    return Permanent(error)


class TwilioSmsSender:
    channel: Channel = "sms"

    def __init__(self, config: SmsConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self.client = client or httpx.Client(timeout=config.timeout, follow_redirects=False)

    def send(self, message: OutboundMessage) -> Outcome:
        c = self.config
        try:
            response = self.client.post(
                c.messages_url,
                data={"To": message.to, "From": c.sender, "Body": message.body},
                auth=(c.account_sid, c.auth_token),
                headers={"Idempotency-Key": message.idempotency_key},
            )
        except httpx.TimeoutException:
            return Transient("timeout")
        except httpx.TransportError as exc:
            return Transient(f"connection error: {type(exc).__name__}")
        return classify(response)


def from_settings(settings: Settings) -> TwilioSmsSender | None:
    config = SmsConfig.from_settings(settings)
    return None if config is None else TwilioSmsSender(config)
