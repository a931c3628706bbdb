"""What a sender is given and what it reports for one attempt. The delivery queue decides,
from the outcome alone, whether to record success, retry later or fail for good."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

Channel = Literal["email", "sms", "webhook"]


@dataclass(frozen=True)
class OutboundMessage:
    """One message to deliver. ``idempotency_key`` is stable per (run, action index) and is what
    the provider sees on every attempt (e-mail ``Message-ID``, webhook ``webhook-id``)."""

    channel: Channel
    idempotency_key: str
    practice_id: str
    to: str  # e-mail address, phone number or webhook URL
    body: str
    subject: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivered:
    provider_id: str | None = None  # SMTP queue id, SMS sid, webhook status code
    detail: str | None = None  # short, PHI-free (e.g. a truncated webhook response)


@dataclass(frozen=True)
class Transient:
    """Worth another attempt (timeout, connection error, 408/429/5xx, SMTP 4xx)."""

    error: str
    retry_after: float | None = None  # seconds the provider asked us to wait


@dataclass(frozen=True)
class Permanent:
    """Another attempt would fail the same way (refused address, 4xx, blocked destination)."""

    error: str


Outcome = Delivered | Transient | Permanent


class Sender(Protocol):
    """One channel's adapter. ``send`` never raises for a provider's answer: it reports it."""

    channel: Channel

    def send(self, message: OutboundMessage) -> Outcome: ...
