"""Where a webhook may go: every address category, every spelling of loopback, the allow-list,
and the save-time check of a rule's URL (422 at actionsJson[i].args.url)."""

from __future__ import annotations

import ipaddress

import pytest

from crmflow.actions import validate_actions
from crmflow.settings import Settings
from crmflow.webhook_policy import (
    BadNetworks,
    address_refusal,
    literal_address,
    parse_networks,
    scheme_refusal,
    url_errors,
)

NONE: tuple = ()
LOOPBACK = parse_networks("127.0.0.0/8")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not a globally routable"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: judged as the IPv4 address it carries
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address), NONE)
    assert refusal is not None and kind in refusal


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), NONE) is None


def test_the_allow_list_admits_its_networks_only() -> None:
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), LOOPBACK) is None
    assert address_refusal(ipaddress.ip_address("::ffff:127.0.0.1"), LOOPBACK) is None
    assert address_refusal(ipaddress.ip_address("::1"), LOOPBACK) is not None
    assert address_refusal(ipaddress.ip_address("10.0.0.1"), LOOPBACK) is not None
    assert address_refusal(ipaddress.ip_address("169.254.169.254"), LOOPBACK) is not None


def test_plain_http_only_when_every_address_is_allow_listed() -> None:
    loop, public = ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("8.8.8.8")
    assert scheme_refusal("https", [public], NONE) is None
    assert scheme_refusal("http", [public], NONE) is not None
    assert scheme_refusal("http", [loop], LOOPBACK) is None
    assert scheme_refusal("http", [loop, public], LOOPBACK) is not None
    assert scheme_refusal("ftp", [loop], LOOPBACK) is not None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("localhost", "127.0.0.1"),
        ("localhost.", "127.0.0.1"),
        ("LocalHost", "127.0.0.1"),
        ("api.localhost", "127.0.0.1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("example.com", None),
        ("10.0.0.1.example.com", None),
    ],
)
def test_literal_addresses_in_every_spelling(host: str, address: str | None) -> None:
    found = literal_address(host)
    assert found == (ipaddress.ip_address(address.strip("[]")) if address else None)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.1/hook",
        "http://0x7f000001/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost./hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/hook",
        "https://[fd00:ec2::254]/",
        "http://example.com/hook",  # plain http to a public name
        "ftp://example.com/",
        "https://user:pass@example.com/",
        "https:///no-host",
        "{url}",
        "https://example.com:99999/",
        "https://exa mple.com/",
    ],
)
def test_refused_urls(url: str) -> None:
    assert url_errors(url, NONE) != []


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "https://93.184.215.14:8443/x?y=1",
        "https://{appointment.provider}.example/h",
    ],
)
def test_accepted_urls(url: str) -> None:
    assert url_errors(url, NONE) == []


def test_allow_listed_loopback_may_use_plain_http() -> None:
    assert url_errors("http://127.0.0.1:8080/hook", LOOPBACK) == []
    assert url_errors("http://receiver.internal/hook", LOOPBACK) == []  # checked again at send time


def test_a_rule_with_a_literal_refused_url_is_refused_at_the_url() -> None:
    actions = [
        {"type": "create_note", "args": {"patientId": "{patientId}", "body": "x"}},
        {"type": "send_webhook", "args": {"url": "http://169.254.169.254/latest"}},
    ]
    errors = validate_actions(actions, "crm/patient.created")
    assert [(e.loc, e.type) for e in errors] == [((1, "args", "url"), "webhook_url")]
    allowed = Settings(webhook_allowed_networks="169.254.169.254/32").webhook_networks
    assert validate_actions(actions, "crm/patient.created", webhook_allowed_networks=allowed) == []


def test_headers_may_not_set_what_crmflow_sets() -> None:
    for name in ("Host", "content-length", "Webhook-Signature", "webhook-id", "webhook-timestamp"):
        action = {"type": "send_webhook", "args": {"url": "https://example.com", "headers": {name: "x"}}}
        [error] = validate_actions([action], None)
        assert error.loc == (0, "args", "headers")
    bad_value = {"type": "send_webhook", "args": {"url": "https://example.com", "headers": {"X-A": "a\r\nb"}}}
    assert validate_actions([bad_value], None) != []
    fine = {
        "type": "send_webhook",
        "args": {
            "url": "https://example.com/{patientId}",
            "headers": {"Authorization": "Bearer t", "X-Patient": "{patientId}"},
            "body": {"patient": "{patient.id}", "kind": "welcome"},
        },
    }
    assert validate_actions([fine], "crm/patient.created") == []


def test_placeholders_in_the_body_must_resolve_for_the_trigger() -> None:
    action = {"type": "send_webhook", "args": {"url": "https://example.com", "body": {"a": "{nope.x}"}}}
    [error] = validate_actions([action], "crm/patient.created")
    assert error.loc == (0, "args", "body", "a")


def test_bad_allowed_networks_fail_the_settings() -> None:
    with pytest.raises(BadNetworks):
        parse_networks("10.0.0.0/8, nonsense")
    with pytest.raises(ValueError):
        Settings(webhook_allowed_networks="127.0.0.0/33")
    assert parse_networks(" ") == ()
