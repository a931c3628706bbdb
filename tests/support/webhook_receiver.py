"""A webhook receiver on this machine's loopback for the tests: it records every request, verifies
the Standard Webhooks signature with the independent ``standardwebhooks`` package, and answers as
the test scripts it (a status per request, a delay, extra headers, TLS with a given certificate)."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks


@dataclass
class Answer:
    status: int = 200
    body: bytes = b'{"ok":true}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    verified: bool  # the signature verified with the receiver's secret
    at: float


class Receiver:
    def __init__(self, server: ThreadingHTTPServer, scheme: str) -> None:
        self._server = server
        self.scheme = scheme
        self.requests: list[Received] = []
        self.answers: list[Answer] = []  # consumed in order; then ``default``
        self.default = Answer()
        self.secrets: list[str] = []  # whsec_... it verifies with (any one matching)
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def verify(self, body: bytes, headers: dict[str, str]) -> bool:
        for secret in self.secrets:
            try:
                standardwebhooks.Webhook(secret).verify(body, headers, json_parse=False)
                return True
            except standardwebhooks.webhooks.WebhookVerificationError:
                continue
        return False

    def next_answer(self) -> Answer:
        with self.lock:
            return self.answers.pop(0) if self.answers else self.default

    def record(self, received: Received) -> None:
        with self.lock:
            self.requests.append(received)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.record(Received(self.path, headers, body, receiver.verify(body, headers), time.time()))
            answer = receiver.next_answer()
            if answer.delay:
                time.sleep(answer.delay)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(answer.body)))
            self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *args: object) -> None:  # quiet
            pass

    return Handler


@contextmanager
def receiver(
    *, secrets: Sequence[str] = (), tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> Iterator[Receiver]:
    """A running receiver on ``host`` (loopback only), https when ``tls`` is given."""
    server = ThreadingHTTPServer((host, 0), BaseHTTPRequestHandler)
    rec = Receiver(server, "https" if tls else "http")
    rec.secrets = list(secrets)
    server.RequestHandlerClass = _handler(rec)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
