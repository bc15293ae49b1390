"""How webhook POSTs connect: directly, and, unless the operator allows it, never to the hub's own machine or network.

A host name is resolved once per connection, and the address checked is the address connected to. A check made
beside the client's own look-up passed a name that answered a public address first and a local one next (DNS
rebinding), and the POST went into the hub's network.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
from collections.abc import Iterable

import httpcore2
import httpx2

from hub.model import network

log = logging.getLogger("hub")

LIMITS = httpx2.Limits(max_connections=None, max_keepalive_connections=20, keepalive_expiry=5.0)
"""The pool's bounds: each POST in flight a connection of its own (`parallel` bounds them per integration, and
`webhook_max_connections` across the hub, before a batch is leased), and httpx's defaults for the idle ones. Held to
httpx's 100, the POSTs past them waited for a connection as their timeout ran, and failed as the app's tries though
the app answered within it."""


@functools.cache
def _verified() -> ssl.SSLContext:
    """The TLS context every webhook client verifies certificates with, made once a process: loading the CA bundle
    takes some 30 ms, and each transport made its own (the public-only one two, the first thrown away)."""
    return httpx2.create_ssl_context()


class LocalAddress(Exception):
    """A webhook's host resolved to an address on the hub's own machine or network."""


class _PublicOnly(httpcore2.AsyncNetworkBackend):
    """Connects a host name by the addresses it resolves to, refusing them all if any is local."""

    def __init__(self) -> None:
        self._backend = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:  # no such name; a label over 63 characters
            raise httpcore2.ConnectError(str(error)) from error
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if (local := next((a for a in addresses if network.local(a)), None)) is not None:
            log.warning("webhook host %r not connected to: it resolves to %s, a local address", host, local)
            raise LocalAddress(host)
        failure: Exception = httpcore2.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            try:
                return await self._backend.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("webhooks are POSTed over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _Transport(httpx2.AsyncHTTPTransport):
    """httpx's transport over a pool that connects by `_PublicOnly` (the transport takes no backend of its own)."""

    def __init__(self) -> None:
        super().__init__(verify=_verified(), limits=LIMITS)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=_verified(),
            max_connections=LIMITS.max_connections,
            max_keepalive_connections=LIMITS.max_keepalive_connections,
            keepalive_expiry=LIMITS.keepalive_expiry,
            network_backend=_PublicOnly(),
        )


def transport(local_network: bool) -> httpx2.AsyncHTTPTransport:
    """The webhook client's transport. Either way the client connects directly: proxy variables in the
    environment are not used, as a proxy would resolve names out of the hub's sight."""
    return httpx2.AsyncHTTPTransport(verify=_verified(), limits=LIMITS) if local_network else _Transport()
