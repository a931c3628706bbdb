"""``send_webhook``'s channel (SPEC section 9): a signed JSON POST that cannot be aimed inside.

One attempt: resolve the host, check EVERY address it resolves to
(``crmflow.webhook_policy``), connect to the first checked one only — the connection is pinned to
that IP (a network backend that ignores the name), while the Host header, TLS SNI and the
certificate check keep the URL's host name — and never follow a redirect. So a DNS answer that
changes between the check and the connect (rebinding) cannot reach another address.

Outcomes: 2xx -> Delivered (status code, truncated response); 408, 429, 5xx, timeout, connection
error, DNS failure -> Transient (``Retry-After`` in seconds or as an HTTP date honoured); a refused
address or scheme, a redirect, another 4xx -> Permanent. ``send`` never raises for a receiver's
behaviour. Nothing here logs the URL, the body or the secret.
"""

from __future__ import annotations

import email.utils
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import certifi
import httpcore
import httpx

from crmflow.db.engine import make_engine
from crmflow.settings import Settings
from crmflow.webhook_policy import IPAddress, IPNetwork, address_refusal, scheme_refusal, url_errors
from crmflow.webhook_request import USER_AGENT
from crmflow.webhook_secrets import SecretBox, signing_keys
from crmflow.webhook_signing import sign
from crmflow_runner.sending.outcome import (
    Channel,
    Delivered,
    OutboundMessage,
    Outcome,
    Permanent,
    Transient,
)
from crmflow_runner.sending.scrub import scrub

MAX_RESPONSE_BYTES: Final = 64 * 1024  # read at most this much of a response (then close)
KEPT_RESPONSE_CHARS: Final = 500  # what the delivery record keeps of it
MAX_RETRY_AFTER_SECONDS: Final = 86_400.0

Resolver = Callable[[str, int], list[IPAddress]]
SigningKeys = Callable[[str], Sequence[bytes]]  # practice id -> keys (current first)


class Refused(Exception):
    """The destination is not allowed (permanent); the message names the address, never PHI."""


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (TCP), in the resolver's order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]), None)
    return list(seen)


def checked_address(
    scheme: str, host: str, port: int, allowed: Sequence[IPNetwork], resolver: Resolver
) -> IPAddress:
    """The address to connect to, after every resolved address passed; Refused otherwise.
    ``socket.gaierror`` (DNS failure) passes through: the caller reports it as transient."""
    addresses = resolver(host, port)
    if not addresses:
        raise socket.gaierror(f"{host} resolves to no address")
    for address in addresses:
        refusal = address_refusal(address, allowed)
        if refusal is not None:
            raise Refused(refusal)
    refusal = scheme_refusal(scheme, addresses, allowed)
    if refusal is not None:
        raise Refused(refusal)
    first = addresses[0]
    mapped = first.ipv4_mapped if isinstance(first, ipaddress.IPv6Address) else None
    return mapped or first


class PinnedBackend(httpcore.NetworkBackend):
    """Connects to the checked address whatever name httpcore asks for; TLS (SNI, certificate
    hostname) still uses the URL's host, which httpcore passes to ``start_tls`` itself."""

    def __init__(self, host: str, address: IPAddress) -> None:
        self._host = host
        self._address = str(address)
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host.strip("[]").lower() != self._host.strip("[]").lower():  # only the checked request
            raise httpcore.ConnectError("connection to an unchecked host refused")
        return self._inner.connect_tcp(self._address, port, timeout, local_address, socket_options)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook destinations")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport over a connection pool whose only route is the checked address.
    (httpx 0.28 takes no network backend; the pool it built is replaced before any use.)"""

    def __init__(self, host: str, address: IPAddress, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=1,
            max_keepalive_connections=0,
            network_backend=PinnedBackend(host, address),
        )


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, delta), MAX_RETRY_AFTER_SECONDS)


def classify(status: int, headers: Mapping[str, str], text: str) -> Outcome:
    """The outcome of a receiver's answer (SPEC section 9)."""
    kept = scrub(text, KEPT_RESPONSE_CHARS)  # one line, no e-mail addresses or phone numbers
    if 200 <= status < 300:
        return Delivered(provider_id=str(status), detail=kept or None)
    if status in (408, 429) or status >= 500:
        return Transient(f"HTTP {status}", retry_after_seconds(headers.get("retry-after")))
    if 300 <= status < 400:
        return Permanent(f"HTTP {status}: redirects are not followed")
    return Permanent(f"HTTP {status}")


def default_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


class WebhookSender:
    """The ``webhook`` channel of the delivery queue (``Sender`` protocol)."""

    channel: Channel = "webhook"

    def __init__(
        self,
        signing_keys: SigningKeys,
        *,
        allowed: Sequence[IPNetwork] = (),
        timeout: float = 10.0,
        resolver: Resolver = resolve,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signing_keys = signing_keys
        self._allowed = tuple(allowed)
        self._timeout = timeout
        self._resolver = resolver
        self._ssl_context = ssl_context or default_ssl_context()
        self._clock = clock

    def send(self, message: OutboundMessage) -> Outcome:
        try:
            return self._send(message)
        except Refused as exc:
            return Permanent(f"destination refused: {exc}")

    def _send(self, message: OutboundMessage) -> Outcome:
        problems = url_errors(message.to, self._allowed)
        if problems:
            raise Refused(problems[0])
        url = httpx.URL(message.to)
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        deadline = time.monotonic() + self._timeout
        try:
            address = checked_address(url.scheme, host, port, self._allowed, self._resolver)
        except (socket.gaierror, UnicodeError) as exc:
            return Transient(f"cannot resolve the host ({type(exc).__name__})")
        body = message.body.encode()
        try:
            keys = self._signing_keys(message.practice_id)
        except Exception as exc:  # no secret / undecryptable: nothing a retry changes
            return Permanent(str(exc)[:300])
        signed = sign(keys, message.idempotency_key, int(self._clock()), body)
        headers = httpx.Headers(message.headers)
        headers.setdefault("content-type", "application/json")
        headers.setdefault("user-agent", USER_AGENT)
        headers["accept-encoding"] = "identity"  # the kept response is read raw
        headers.update(signed.as_dict())  # after the rule's headers: they can never replace these
        transport = PinnedTransport(host, address, self._ssl_context)
        try:
            with (
                httpx.Client(
                    transport=transport, timeout=self._timeout, follow_redirects=False, trust_env=False
                ) as client,
                client.stream("POST", url, content=body, headers=headers) as response,
            ):
                text = _read_some(response, deadline)
                return classify(response.status_code, response.headers, text)
        except httpx.TimeoutException:
            return Transient(f"timed out after {self._timeout:g} s")
        except httpx.TransportError as exc:
            return Transient(f"connection failed ({type(exc).__name__})")


def _read_some(response: httpx.Response, deadline: float) -> str:
    """At most MAX_RESPONSE_BYTES of the body, within the attempt's overall deadline (a receiver
    trickling bytes cannot hold the sender past its timeout)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_RESPONSE_BYTES:
            break
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("response not read within the timeout")
    return b"".join(chunks)[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")


def from_settings(settings: Settings) -> WebhookSender:
    """The webhook channel: always on (webhooks need no provider account); each send reads the
    practice's signing keys through a small pool of its own."""
    engine = make_engine(settings, pool_size=1)
    box = SecretBox(settings.secret_key)

    def keys(practice_id: str) -> list[bytes]:
        with engine.connect() as conn:
            return signing_keys(conn, practice_id, box)

    return WebhookSender(keys, allowed=settings.webhook_networks, timeout=settings.webhook_timeout_seconds)
