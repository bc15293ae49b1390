"""API keys and app-group connections: create, list, revoke, connect, and authenticate with a short cache."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from hub.errors import Conflict, Invalid, NotFound
from hub.model import timefmt
from hub.model.access import (
    KEY_ID,
    ApiKey,
    Connection,
    Principal,
    check_provider,
    check_realm,
    hash_secret,
    principal,
    secret_matches,
)
from hub.model.record import checked_group_id
from hub.service import ids as idsvc
from hub.store.base import Store


@dataclass(frozen=True)
class NewKey:
    """A key just made, with its secret: the only moment the secret is known."""

    key: ApiKey
    secret: str

    @property
    def token(self) -> str:
        """`Authorization: Bearer <token>`; HTTP Basic takes the key id as user and the secret as password."""
        return f"{self.key.key_id}.{self.secret}"


def _new_key(provider: str | None) -> NewKey:
    secret = secrets.token_urlsafe(32)
    return NewKey(ApiKey(f"hk_{secrets.token_hex(8)}", provider, hash_secret(secret), timefmt.now()), secret)


async def create_key(store: Store, provider: str | None, hub_provider: str) -> NewKey:
    """A new key for an app (`provider`), or an admin key (None)."""
    if provider is not None:
        check_provider(provider, hub_provider)
    made = _new_key(provider)
    await store.add_key(made.key)
    return made


async def first_admin_key(store: Store) -> NewKey | None:
    """An admin key if the store never had one (a fresh store), else None: the first start prints it once.

    Several hubs starting at once on one fresh store make one key between them, not one each.
    """
    made = _new_key(None)
    return made if await store.add_first_admin_key(made.key) else None


async def list_keys(store: Store) -> tuple[list[ApiKey], dict[str, list[Connection]]]:
    """Every key, revoked ones included, oldest first, and each app's connections by provider: `hub keys list`."""
    connections: dict[str, list[Connection]] = {}
    for connection in await store.connections():
        connections.setdefault(connection.provider, []).append(connection)
    return list(await store.keys()), connections


async def revoke_key(store: Store, key_id: str) -> None:
    """Refuse the key from now on. Its token (`<key id>.<secret>`, pasted whole from a leak) is refused naming the key
    id alone: 'no live key' read as if the leaked key were revoked already, and showed the secret once more."""
    named, dot, _ = key_id.partition(".")
    if dot and KEY_ID.match(named):
        raise Invalid(f"that is a key's token, its secret included: name the key by its id, hub keys revoke {named}")
    if not KEY_ID.match(key_id) or not await store.revoke_key(key_id, timefmt.now()):
        raise NotFound(f"no live key {key_id}")


async def connect(store: Store, provider: str, group_id: str, realm: str, hub_provider: str) -> Connection:
    """Connect an app to a group with its realm there; the group is created if new."""
    check_provider(provider, hub_provider)
    check_realm(realm)
    checked_group_id(group_id)
    held = await store.connect(Connection(provider, group_id, realm, timefmt.now()), idsvc.new_channel_id())
    if held.realm != realm:
        raise Conflict(
            f"{provider} is connected to {group_id} with realm {held.realm!r}; disconnect it first to change the realm"
        )
    return held


async def disconnect(store: Store, provider: str, group_id: str) -> None:
    if not await store.disconnect(provider, group_id):
        raise NotFound(f"{provider} is not connected to {group_id}")


class Authenticator:
    """Checks a key id and secret; keys and connections are cached for `ttl` seconds.

    The cache holds what the store said, never a verdict: the secret is hashed and
    compared on every request. A key revoked (or an app connected or disconnected)
    from another process takes effect within `ttl` seconds (`forget` empties the cache: tests revoking keys in the
    store take effect at once).
    """

    MAX_ENTRIES = 10_000

    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._cache: dict[str, tuple[float, ApiKey, Principal]] = {}

    async def authenticate(self, key_id: str, secret: str) -> Principal | None:
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is None or cached[0] <= now:
            cached = await self._load(key_id, now)
        key, who = (cached[1], cached[2]) if cached else (None, None)
        return who if secret_matches(secret, key) else None

    async def _load(self, key_id: str, now: float) -> tuple[float, ApiKey, Principal] | None:
        self._cache.pop(key_id, None)
        key = await self.store.key(key_id) if KEY_ID.match(key_id) else None
        if key is None:
            return None
        connections = await self.store.connections(key.provider) if key.provider is not None else []
        entry = (now + self.ttl, key, principal(key, connections))
        if len(self._cache) >= self.MAX_ENTRIES:
            self._cache.clear()
        if self.ttl > 0:
            self._cache[key_id] = entry
        return entry

    def forget(self) -> None:
        self._cache.clear()
