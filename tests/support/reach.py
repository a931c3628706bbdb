"""Real servers for the senders' tests (SPEC section 9): an SMTP server (aiosmtpd) that keeps what
it receives, and an HTTP server speaking the Twilio Messages REST shape. Both listen on loopback
only, on ports the OS picks; ``reach_servers`` (tests/conftest.py) starts them once per session and
stops them whatever happens.

Behaviours are chosen per recipient, so tests sharing the servers never disturb each other: an
e-mail local part or an SMS number listed in ``fail``/``delay`` gets that treatment.
"""

from __future__ import annotations

import base64
import contextlib
import email
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

SMS_ACCOUNT = "ACtest0000000000000000000000000000"
SMS_TOKEN = "test-token"


def _free_port() -> int:
    """A loopback port free now (aiosmtpd's controller needs a real port to check its start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpSink:
    """What the SMTP server received, and how it answers (per recipient address)."""

    received: list[tuple[str, list[str], Message]] = field(default_factory=list)
    reply_for: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply, e.g. "451 busy"
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.reply_for.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        with self.lock:
            self.received.append(
                (str(envelope.mail_from), list(envelope.rcpt_tos), email.message_from_bytes(raw))
            )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for _, rcpts, m in self.received if address.lower() in (r.lower() for r in rcpts)]


class SmtpServer:
    def __init__(self) -> None:
        self.sink = SmtpSink()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=_free_port())

    def start(self) -> None:
        self.controller.start()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class SmsRequest:
    path: str
    auth: str
    form: dict[str, str]
    idempotency_key: str | None
    at: float


class SmsProvider:
    """``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form To, From, Body; basic auth)."""

    def __init__(self) -> None:
        self.requests: list[SmsRequest] = []
        self.delay: dict[str, float] = {}  # number -> seconds before answering
        self.fail: dict[str, list[int]] = {}  # number -> statuses to answer first, in order
        self.retry_after: dict[str, str] = {}  # number -> Retry-After header of those failures
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                request = SmsRequest(
                    self.path,
                    self.headers.get("Authorization") or "",
                    form,
                    self.headers.get("Idempotency-Key"),
                    time.monotonic(),
                )
                with provider.lock:
                    provider.requests.append(request)
                    failures = provider.fail.get(form.get("To", ""), [])
                    status = failures.pop(0) if failures else None
                time.sleep(provider.delay.get(form.get("To", ""), 0))
                expected_auth = "Basic " + base64.b64encode(f"{SMS_ACCOUNT}:{SMS_TOKEN}".encode()).decode()
                expected_path = f"/2010-04-01/Accounts/{SMS_ACCOUNT}/Messages.json"
                if request.auth != expected_auth:
                    self._answer(401, {"code": 20003, "message": "Authenticate"})
                elif self.path != expected_path:
                    self._answer(404, {"code": 20404, "message": "not found"})
                elif status is not None:
                    wait = provider.retry_after.get(form.get("To", ""))
                    headers = {"Retry-After": wait} if wait else {}
                    self._answer(status, {"code": 30001, "message": "failing on purpose"}, headers)
                else:
                    sid = f"SM{len(provider.requests):032d}"
                    self._answer(201, {"sid": sid, "status": "queued", "to": form.get("To")})

            def _answer(
                self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="sms-provider", daemon=True)

    def start(self) -> None:
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def to(self, number: str) -> list[SmsRequest]:
        with self.lock:
            return [r for r in self.requests if r.form.get("To") == number]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@dataclass
class ReachServers:
    smtp: SmtpServer
    sms: SmsProvider

    def env(self) -> dict[str, str]:
        """The runner's settings pointing at these servers (and quick retries for the tests)."""
        return {
            "CRMFLOW_SMTP_URL": self.smtp.url,
            "CRMFLOW_EMAIL_FROM": "clinic@crmflow.test",
            "CRMFLOW_SMS_API_URL": self.sms.url,
            "CRMFLOW_SMS_ACCOUNT_SID": SMS_ACCOUNT,
            "CRMFLOW_SMS_AUTH_TOKEN": SMS_TOKEN,
            "CRMFLOW_SMS_FROM": "+15550000000",
            "CRMFLOW_DELIVERY_MAX_ATTEMPTS": "3",
            "CRMFLOW_DELIVERY_BACKOFF_SECONDS": "0.2",
            "CRMFLOW_DELIVERY_BACKOFF_MAX_SECONDS": "1",
            "CRMFLOW_SMTP_TIMEOUT_SECONDS": "10",
            "CRMFLOW_SMS_TIMEOUT_SECONDS": "10",
        }


def reach_servers() -> Iterator[ReachServers]:
    """Body of the session fixture: both servers started, their settings in the environment
    (which the services and ``Settings()`` read), everything stopped and restored at the end."""
    smtp, sms = SmtpServer(), SmsProvider()
    saved: dict[str, str | None] = {}
    started = []
    try:
        smtp.start()
        started.append(smtp.stop)
        sms.start()
        started.append(sms.stop)
        servers = ReachServers(smtp, sms)
        for name, setting in servers.env().items():
            saved[name] = os.environ.get(name)
            os.environ[name] = setting
        yield servers
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
        for stop in reversed(started):  # one failing stop must not keep the other running
            with contextlib.suppress(Exception):
                stop()
