"""Which webhook hosts are on the hub's own machine or network rather than on the internet."""

from __future__ import annotations

import ipaddress
import socket


def local(host: str) -> bool:
    """Whether `host` (an address, or a name) names the hub's own machine or network: loopback, private,
    link-local (where clouds serve their instance metadata), shared, reserved or unspecified addresses, and the
    name `localhost`. An app's webhook there made the hub POST into the network it runs in, and the error its
    dead items recorded told the app what answered."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%")[0])  # an IPv6 zone (`fe80::1%eth0`) is no part of it
    except ValueError:
        if (older := _older_ipv4(name)) is None:
            return False  # a name: what it resolves to is looked at as it is POSTed to
        address = older
    if isinstance(address, ipaddress.IPv6Address) and (embedded := _embedded(address)) is not None:
        address = embedded
    return not address.is_global or address.is_multicast  # Python 3.11 counts 224.0.0.1 and ff02::1 global


def _older_ipv4(name: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address in one of its older forms (`127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`), read as the
    resolver reads them before any lookup (`inet_aton`, parsing alone): `ipaddress` takes none of them for an
    address, and such a URL was taken, its batches refused only as they were POSTed."""
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except (OSError, ValueError):  # not an address in any form (ValueError: a NUL in it)
        return None


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
"""Where a NAT64 gateway reaches the IPv4 address in an address's last 32 bits."""
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
"""The prefix a network gives its own NAT64 gateway (RFC 8215): whatever it reaches is that network's way out."""
TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
"""IPv4-translated addresses (RFC 2765), reaching the IPv4 address in their last 32 bits as NAT64's do: Python counts
`::ffff:0:127.0.0.1` global, and a webhook there was taken."""


def _embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that an IPv6 one reaches: mapped, 6to4, NAT64, translated or IPv4-compatible (`::127.0.0.1`);
    a local NAT64 prefix counts as reaching an unspecified one (local)."""
    if (embedded := address.ipv4_mapped or address.sixtofour) is not None:
        return embedded
    if address in NAT64_LOCAL:
        return ipaddress.IPv4Address(0)
    if address in NAT64 or address in TRANSLATED or 1 < int(address) < 2**32:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
