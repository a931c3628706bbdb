"""The webhook sender against real receivers on this machine's loopback (no stack needed).

SSRF: every spelling of loopback, the metadata address, a private address, names resolving to
non-public addresses and a redirect to loopback are all refused, and nothing reaches the
receiver; only an allow-listed network is reached. No request ever leaves this machine: refused
destinations are refused before any connection, and names are resolved by this machine's
resolver (/etc/hosts) or by the test's own resolver function.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crmflow.webhook_policy import IPAddress, IPNetwork, parse_networks
from crmflow.webhook_signing import format_secret, new_key
from crmflow_runner.sending.outcome import Delivered, OutboundMessage, Permanent, Transient
from crmflow_runner.sending.webhook import WebhookSender, resolve
from tests.support.webhook_receiver import Answer, Receiver, receiver

pytestmark = pytest.mark.integration

KEY = new_key()
SECRET = format_secret(KEY)
LOOPBACK = parse_networks("127.0.0.0/8")


def message(
    url: str, body: str = '{"hello":"world"}', key: str = "msg_test_1", **headers: str
) -> OutboundMessage:
    return OutboundMessage(
        channel="webhook", idempotency_key=key, practice_id="p1", to=url, body=body, headers=headers
    )


def sender(allowed: tuple[IPNetwork, ...] = (), **kwargs: Any) -> WebhookSender:
    return WebhookSender(lambda practice_id: [KEY], allowed=allowed, **kwargs)


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver(secrets=[SECRET]) as rec:
        yield rec


def _names_resolving_to_non_public() -> list[str]:
    """Host names this machine resolves (without DNS: /etc/hosts) to loopback/private addresses."""
    names = []
    for name in (socket.gethostname(), "localhost"):
        try:
            addresses = resolve(name, 80)
        except OSError:
            continue
        if addresses and not any(a.is_global for a in addresses):
            names.append(name)
    return names


def test_the_allow_listed_network_is_reached_and_the_signature_verifies(hook: Receiver) -> None:
    outcome = sender(LOOPBACK).send(message(hook.url(), **{"X-Custom": "1"}))
    assert outcome == Delivered(provider_id="200", detail='{"ok":true}')
    [request] = hook.requests
    assert request.verified
    assert request.body == b'{"hello":"world"}'
    assert request.headers["webhook-id"] == "msg_test_1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-custom"] == "1"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60


@pytest.mark.parametrize(
    "url",
    [
        "http://127.1:{port}/hook",
        "http://0x7f000001:{port}/hook",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://localhost.:{port}/hook",
        "http://localhost:{port}/hook",
        "https://127.0.0.1:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://10.0.0.1/hook",
        "https://0.0.0.0:{port}/hook",
    ],
)
def test_ssrf_table_every_destination_is_refused_before_any_connection(hook: Receiver, url: str) -> None:
    outcome = sender().send(message(url.format(port=hook.port)))
    assert isinstance(outcome, Permanent), outcome
    assert outcome.error.startswith("destination refused")
    assert hook.requests == []


def test_a_name_resolving_to_a_non_public_address_is_refused(hook: Receiver) -> None:
    names = _names_resolving_to_non_public()
    assert names, "this machine resolves localhost"
    for name in names:
        outcome = sender().send(message(hook.url(host=name)))
        assert isinstance(outcome, Permanent) and "refused" in outcome.error, (name, outcome)
    assert hook.requests == []


def test_every_resolved_address_is_checked_not_only_the_first(hook: Receiver) -> None:
    def resolver(host: str, port: int) -> list[IPAddress]:  # a public answer, then a private one
        return [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("127.0.0.1")]

    outcome = sender(resolver=resolver).send(message(f"https://hooks.example.test:{hook.port}/"))
    assert isinstance(outcome, Permanent) and "127.0.0.1 is a loopback" in outcome.error
    assert hook.requests == []


def test_plain_http_to_a_public_address_is_refused() -> None:
    def resolver(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("93.184.215.14")]

    outcome = sender(resolver=resolver).send(message("http://hooks.example.test/"))
    assert isinstance(outcome, Permanent) and "plain http" in outcome.error


def test_a_redirect_to_loopback_is_not_followed(hook: Receiver) -> None:
    with receiver(secrets=[SECRET]) as target:
        hook.default = Answer(status=302, headers={"location": target.url()})
        outcome = sender(LOOPBACK).send(message(hook.url()))
        assert isinstance(outcome, Permanent) and "302" in outcome.error
        assert len(hook.requests) == 1
        assert target.requests == []


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer(status=204, body=b""), Delivered(provider_id="204", detail=None)),
        (Answer(status=500), Transient("HTTP 500", None)),
        (Answer(status=503, headers={"retry-after": "7"}), Transient("HTTP 503", 7.0)),
        (Answer(status=429, headers={"retry-after": "120"}), Transient("HTTP 429", 120.0)),
        (Answer(status=408), Transient("HTTP 408", None)),
        (Answer(status=404), Permanent("HTTP 404")),
        (Answer(status=400), Permanent("HTTP 400")),
        (Answer(status=410), Permanent("HTTP 410")),
    ],
)
def test_outcomes_by_status(hook: Receiver, answer: Answer, expected: object) -> None:
    hook.default = answer
    assert sender(LOOPBACK).send(message(hook.url())) == expected


def test_retry_after_as_an_http_date(hook: Receiver) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    hook.default = Answer(status=503, headers={"retry-after": when.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    outcome = sender(LOOPBACK).send(message(hook.url()))
    assert isinstance(outcome, Transient) and outcome.retry_after is not None
    assert 25 <= outcome.retry_after <= 31


def test_a_slow_receiver_times_out_as_transient(hook: Receiver) -> None:
    hook.default = Answer(delay=2.0)
    started = time.monotonic()
    outcome = sender(LOOPBACK, timeout=0.5).send(message(hook.url()))
    assert isinstance(outcome, Transient) and "timed out" in outcome.error
    assert time.monotonic() - started < 1.9


def test_a_closed_port_is_a_transient_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        outcome = sender(LOOPBACK).send(message(f"http://127.0.0.1:{port}/"))
    assert isinstance(outcome, Transient) and "connection failed" in outcome.error


def test_the_kept_response_is_truncated(hook: Receiver) -> None:
    hook.default = Answer(body=b"x" * 5_000)
    outcome = sender(LOOPBACK).send(message(hook.url()))
    assert isinstance(outcome, Delivered) and outcome.detail == "x" * 500


def test_without_a_secret_nothing_is_sent(hook: Receiver) -> None:
    def no_secret(practice_id: str) -> list[bytes]:
        raise LookupError("the practice has no webhook secret yet")

    outcome = WebhookSender(no_secret, allowed=LOOPBACK).send(message(hook.url()))
    assert outcome == Permanent("the practice has no webhook secret yet")
    assert hook.requests == []


# -- TLS: the connection is pinned to the checked address, the name is kept for SNI and the
# certificate check -------------------------------------------------------------------------


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_hook(tmp_path: Path) -> Iterator[tuple[Receiver, ssl.SSLContext]]:
    cert, key = _certificate(tmp_path, "hooks.example.test")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    with receiver(secrets=[SECRET], tls=server_context) as rec:
        yield rec, client_context


def _to_loopback(host: str, port: int) -> list[IPAddress]:
    """The test's DNS: hooks.example.test and other.example.test are this machine."""
    assert host in ("hooks.example.test", "other.example.test")
    return [ipaddress.ip_address("127.0.0.1")]


def test_https_connects_to_the_checked_address_with_the_name_for_sni_and_verification(
    tls_hook: tuple[Receiver, ssl.SSLContext],
) -> None:
    hook, client_context = tls_hook
    send = sender(LOOPBACK, resolver=_to_loopback, ssl_context=client_context).send
    # The system resolver does not know hooks.example.test: reaching it proves the pinned address
    # was used, and the certificate (issued to that name) verified against the URL's name.
    outcome = send(message(hook.url(host="hooks.example.test")))
    assert outcome == Delivered(provider_id="200", detail='{"ok":true}')
    [request] = hook.requests
    assert request.headers["host"] == f"hooks.example.test:{hook.port}"
    assert request.verified
    # Another name pinned to the same address: its certificate does not match -> not delivered.
    outcome = send(message(hook.url(host="other.example.test")))
    assert isinstance(outcome, Transient) and "connection failed" in outcome.error
    assert len(hook.requests) == 1


def test_the_same_webhook_id_on_every_attempt_with_a_fresh_signature(hook: Receiver) -> None:
    hook.answers = [Answer(status=500), Answer(status=500)]
    send = sender(LOOPBACK).send
    outcomes = [send(message(hook.url(), key="msg_run_7")) for _ in range(3)]
    assert [type(o) for o in outcomes] == [Transient, Transient, Delivered]
    assert {r.headers["webhook-id"] for r in hook.requests} == {"msg_run_7"}
    assert all(r.verified for r in hook.requests)
    assert json.loads(hook.requests[0].body) == {"hello": "world"}
