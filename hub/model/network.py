"""Which webhook hosts are on the hub's own machine or network rather than on the internet."""

from __future__ import annotations

import ipaddress


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
        return False  # a name: what it resolves to is looked at as it is POSTed to
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global
