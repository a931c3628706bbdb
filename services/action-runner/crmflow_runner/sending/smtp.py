"""``send_email`` over SMTP (SPEC section 9), with the standard library's ``smtplib``.

``CRMFLOW_SMTP_URL`` is ``smtp://host:port`` (STARTTLS when ``CRMFLOW_SMTP_STARTTLS``) or
``smtps://host:port`` (TLS from the start); credentials are optional. Every attempt of a message
carries the same ``Message-ID`` (from its idempotency key), so a repeat is recognisable.

Outcomes: the message accepted -> Delivered (provider id: its ``Message-ID``); a 4xx reply, a
dropped or refused connection, a timeout -> Transient; a 5xx reply (refused sender, recipient or
content) -> Permanent. Error texts are scrubbed of addresses and numbers.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from crmflow.settings import Settings
from crmflow_runner.sending.outcome import Channel, Delivered, OutboundMessage, Outcome, Permanent, Transient
from crmflow_runner.sending.scrub import scrub


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: bool  # smtps: TLS from the start
    starttls: bool
    username: str | None
    password: str | None
    sender: str
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        if not settings.smtp_url:
            return None
        url = urlsplit(settings.smtp_url)
        if url.scheme not in ("smtp", "smtps") or not url.hostname:
            raise ValueError("CRMFLOW_SMTP_URL must be smtp://host:port or smtps://host:port")
        tls = url.scheme == "smtps"
        return cls(
            host=url.hostname,
            port=url.port or (465 if tls else 25),
            tls=tls,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username or (unquote(url.username) if url.username else None),
            password=settings.smtp_password or (unquote(url.password) if url.password else None),
            sender=settings.email_from,
            timeout=settings.smtp_timeout_seconds,
        )


def message_id(idempotency_key: str, sender: str) -> str:
    """The ``Message-ID`` of every attempt of the message with ``idempotency_key``."""
    domain = sender.rpartition("@")[2] or "crmflow.invalid"
    return f"<{idempotency_key}@{domain}>"


def build(message: OutboundMessage, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject or ""
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = message_id(message.idempotency_key, sender)
    mail.set_content(message.body)
    return mail


class SmtpSender:
    channel: Channel = "email"

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.tls:
            return smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=ssl.create_default_context())
        return smtplib.SMTP(c.host, c.port, timeout=c.timeout)

    def send(self, message: OutboundMessage) -> Outcome:
        c = self.config
        mail = build(message, c.sender)
        try:
            with self._connect() as smtp:
                if c.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if c.username:
                    smtp.login(c.username, c.password or "")
                refused = smtp.send_message(mail)
                if refused:  # some recipients refused (ours is the only one)
                    code = next(iter(refused.values()))[0]
                    return _by_code(code, "recipient refused")
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else 550
            return _by_code(code, "recipient refused")
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            return _by_code(exc.smtp_code, scrub(text))
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, refused, timeout, TLS
            return Transient(f"smtp: {type(exc).__name__}: {scrub(str(exc), 200)}")
        return Delivered(provider_id=mail["Message-ID"])


def _by_code(code: int, text: str) -> Outcome:
    error = f"smtp {code}: {text}"
    return Permanent(error) if 500 <= code < 600 else Transient(error)


def from_settings(settings: Settings) -> SmtpSender | None:
    config = SmtpConfig.from_settings(settings)
    return None if config is None else SmtpSender(config)
