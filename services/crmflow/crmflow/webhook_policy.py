"""Where a webhook may go (SPEC section 9, SSRF). Pure: no DNS, no sockets.

An address is refused when it is loopback, private, link-local, multicast, reserved, unspecified,
a cloud metadata address or otherwise not globally routable, unless it lies inside one of the
operator's ``CRMFLOW_WEBHOOK_ALLOWED_NETWORKS``. IPv6 forms that carry an IPv4 address
(IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4, Teredo) are judged by that IPv4
address too. ``https`` is required, plain ``http`` only when every address is allow-listed.

The sender (``crmflow_runner.sending.webhook``) resolves the host, checks every address with
:func:`address_refusal` and connects only to a checked one; :func:`url_errors` is the save-time
check of a rule's literal URL (an IP literal in any spelling, or a ``localhost`` name).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from functools import lru_cache
from typing import Final
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_CHARS: Final = 2_000
METADATA_ADDRESSES: Final = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")


class BadNetworks(ValueError):
    """``CRMFLOW_WEBHOOK_ALLOWED_NETWORKS`` holds something that is not a CIDR."""


@lru_cache(maxsize=8)
def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"127.0.0.0/8, fd12::/16"`` -> networks; an empty text -> none. :class:`BadNetworks`
    (a ValueError, so a settings field fails validation) for anything else."""
    networks = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise BadNetworks(f"not a network in CIDR notation: {item[:60]!r}") from None
    return tuple(networks)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo server), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[0]
    return None


def _kind(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address (None when it is one)."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for name in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{name}"):
            article = "an" if name[0] in "aeiou" else "a"
            return f"{article} {name.replace('_', '-')} address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if not address.is_global:
        return "not a globally routable address"
    return None


def address_refusal(address: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why a webhook may not connect to ``address``; None when it may."""
    candidates = [address]
    inner = embedded_ipv4(address)
    if inner is not None:
        candidates.insert(0, inner)
    if any(candidate in network for candidate in candidates for network in allowed):
        return None
    for candidate in candidates:
        kind = _kind(candidate)
        if kind is not None:
            return f"{candidate} is {kind} (not in CRMFLOW_WEBHOOK_ALLOWED_NETWORKS)"
    return None


def is_allowed_network(address: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    inner = embedded_ipv4(address)
    return any(a in network for a in (address, inner) if a is not None for network in allowed)


def scheme_refusal(scheme: str, addresses: Sequence[IPAddress], allowed: Sequence[IPNetwork]) -> str | None:
    """https always; plain http only when every address is inside an allowed network."""
    if scheme == "https":
        return None
    if scheme != "http":
        return f"scheme {scheme[:20]!r} is not allowed (https only)"
    if addresses and all(is_allowed_network(a, allowed) for a in addresses):
        return None
    return "plain http is allowed only to CRMFLOW_WEBHOOK_ALLOWED_NETWORKS; use https"


def literal_address(host: str) -> IPAddress | None:
    """The address a host names without DNS: an IP literal in any spelling resolvers accept
    (``127.1``, ``0x7f000001``, ``017700000001``, ``[::1]``...), ``localhost`` names as loopback."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return ipaddress.ip_address("127.0.0.1")
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    if "%" in name:  # an IPv6 zone: fe80::1%eth0
        try:
            return ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            return None
    try:  # the legacy IPv4 forms getaddrinfo accepts (inet_aton): 127.1, 0x7f.1, 2130706433
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except (OSError, UnicodeError, ValueError):
        return None


def url_errors(url: str, allowed: Sequence[IPNetwork]) -> list[str]:
    """Problems of a webhook URL knowable without DNS (save time and send time alike).

    A URL holding placeholders is checked up to its first ``{`` only when that cuts the host
    (the rest is checked on the rendered URL at send time).
    """
    if len(url) > MAX_URL_CHARS:
        return [f"a webhook URL has at most {MAX_URL_CHARS} characters"]
    if any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return ["a webhook URL may not hold spaces or control characters"]
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if "{" in url.split("//", 1)[-1].split("/", 1)[0] or "{" in scheme:
        if scheme in ("http", "https"):
            return []
        return ["a webhook URL starts with https:// (a placeholder may not stand for the scheme)"]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return [f"not a valid URL ({str(exc)[:80]})"]
    if parts.scheme not in ("http", "https"):
        return ["a webhook URL starts with https://"]
    if parts.username is not None or parts.password is not None:
        return ["credentials in the URL are not allowed (send them in headers)"]
    host = parts.hostname
    if not host:
        return ["a webhook URL needs a host"]
    if port == 0:
        return ["port 0 is not a port"]
    address = literal_address(host)
    if address is None:
        return [] if parts.scheme == "https" or allowed else [scheme_refusal("http", [], allowed) or ""]
    refusal = address_refusal(address, allowed) or scheme_refusal(parts.scheme, [address], allowed)
    return [refusal] if refusal else []
