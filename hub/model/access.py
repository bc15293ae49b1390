"""Who is calling and what they may touch: API keys, app-group connections, and the principal of a request.

A key's secret is 32 random bytes, so its SHA-256 is all the hub keeps: a slow
password hash (scrypt, argon2) protects guessable passwords, and no one guesses
256 random bits; it would only make every uncached request cost milliseconds of
CPU. Digests are compared with `hmac.compare_digest`, in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hub.errors import Forbidden, Invalid
from hub.model.ids import CONTROL, ExternalId

PROVIDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
KEY_ID = re.compile(r"^hk_[0-9a-f]{16}\Z")
r"""`\Z`, not `$`: `$` also matches before a final newline, and `crm\n` was an app of its own."""
MAX_REALM = 255


@dataclass(frozen=True)
class ApiKey:
    """A stored key: `provider` is the app it speaks for, None for an admin key."""

    key_id: str
    provider: str | None
    secret_hash: str
    created_at: str
    revoked_at: str | None = None

    @property
    def admin(self) -> bool:
        return self.provider is None


@dataclass(frozen=True)
class Connection:
    """An app (provider) connected to a group, holding its ids there in one realm."""

    provider: str
    group_id: str
    realm: str
    created_at: str = ""


@dataclass(frozen=True)
class Principal:
    """The caller of one request: the admin, or an app with the realm it holds in each connected group."""

    key_id: str
    provider: str | None
    realms: Mapping[str, str] = field(default_factory=dict)
    """group id -> the app's realm there."""

    @property
    def admin(self) -> bool:
        return self.provider is None

    @property
    def actor(self) -> str:
        """Who made a change, as the merge history records it: the app (or admin) and the key."""
        return f"{self.provider or 'admin'} (key {self.key_id})"

    def app_in(self, group_id: str) -> tuple[str, str] | None:
        """The app (provider, realm) this key speaks for in the group; None for the admin, who speaks for none."""
        if self.provider is None or group_id not in self.realms:
            return None
        return self.provider, self.realms[group_id]

    def sees(self, group_id: str) -> bool:
        return self.admin or group_id in self.realms

    def may_claim(self, group_id: str, ext: ExternalId, hub_provider: str) -> bool:
        """An app adds or matches by its own ids in its own realm, and by hub ids; the admin by any."""
        if self.admin or ext.provider == hub_provider:
            return True
        return ext.provider == self.provider and self.realms.get(group_id) == ext.realm

    def ensure_may_claim(self, group_id: str, ids: Iterable[ExternalId], hub_provider: str) -> None:
        """403 naming the first id this principal may not add or claim."""
        for ext in ids:
            if not self.may_claim(group_id, ext, hub_provider):
                raise refused_claim((self.provider or "", self.realms.get(group_id, "")), ext)

    def acts_for(self, group_id: str, provider: str, realm: str) -> bool:
        """Whether `provider` in `realm` is this app as connected to the group (the admin acts for every app)."""
        return self.admin or (provider, realm) == (self.provider, self.realms.get(group_id))

    def ensure_own_app(self, group_id: str, provider: str, realm: str, what: str) -> None:
        """403 unless `provider` in `realm` is this app as connected to the group (the admin passes)."""
        if not self.acts_for(group_id, provider, realm):
            raise Forbidden(
                f"app {self.provider!r} may not {what} of provider {provider!r} in realm {realm!r}",
                provider=provider,
                realm=realm,
            )


def refused_claim(app: tuple[str, str], ext: ExternalId, why: str = "") -> Forbidden:
    """The 403 of an app (provider, realm) naming `ext`, an id it may not add or claim; `why` ends the detail."""
    provider, realm = app
    return Forbidden(
        f"app {provider!r} (realm {realm!r} in this group) may not add or claim the id"
        f" {ext.id!r} of provider {ext.provider!r} in realm {ext.realm!r}{why}",
        id=ext.as_json(),
    )


def principal(key: ApiKey, connections: Iterable[Connection]) -> Principal:
    return Principal(key.key_id, key.provider, {c.group_id: c.realm for c in connections})


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_DUMMY = hash_secret("")


def secret_matches(secret: str, key: ApiKey | None) -> bool:
    """Whether `secret` is the key's, in time independent of where they differ (and of whether a key was found)."""
    expected = key.secret_hash if key is not None else _DUMMY
    same = hmac.compare_digest(hash_secret(secret).encode(), expected.encode())
    return same and key is not None and key.revoked_at is None


def check_provider(provider: str, hub_provider: str) -> str:
    if not PROVIDER.match(provider):
        raise Invalid(
            f"malformed provider {provider!r}: 1 to 128 letters, digits, '.', '_' and '-', the first a letter or digit"
        )
    if provider == hub_provider:
        raise Invalid(f"{provider!r} is the hub's own provider name; an app needs another")
    return provider


def check_realm(realm: str) -> str:
    """An app's realm in a group: a control character in it (a newline) broke `hub keys list`'s table, and no app
    writes ids in such a realm."""
    if not realm.strip() or len(realm) > MAX_REALM or realm != realm.strip() or CONTROL.search(realm):
        raise Invalid(
            f"malformed realm {realm!r}: a non-empty string without surrounding spaces or control characters,"
            f" at most {MAX_REALM}"
        )
    return realm
