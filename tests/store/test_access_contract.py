"""The access part of the storage port (keys and app-group connections), run against every adapter."""

from __future__ import annotations

import asyncio

import pytest

from hub.model.access import ApiKey, Connection
from hub.model.record import Group
from hub.store.base import Store

# `store` is the contract suites' fixture (tests/store/conftest.py): a fresh, empty store of each
# adapter (SQLite, MongoDB on mongomock, and a real MongoDB if HUB_TEST_MONGODB_URL names one).


def key(n: int, provider: str | None = "crm") -> ApiKey:
    return ApiKey(f"hk_{n:016x}", provider, f"{n:064x}", f"2024-01-01T00:00:0{n}.000000Z")


async def test_keys_are_stored_found_listed_oldest_first_and_revoked_once(store: Store) -> None:
    assert await store.key(key(1).key_id) is None and list(await store.keys()) == []
    for n, provider in ((2, None), (1, "crm")):
        await store.add_key(key(n, provider))
    assert await store.key(key(2).key_id) == key(2, None)
    assert [k.key_id for k in await store.keys()] == [key(1).key_id, key(2).key_id]
    assert await store.revoke_key(key(1).key_id, "2024-02-01T00:00:00.000000Z")
    assert not await store.revoke_key(key(1).key_id, "2024-03-01T00:00:00.000000Z")
    assert not await store.revoke_key(key(9).key_id, "2024-03-01T00:00:00.000000Z")
    revoked = await store.key(key(1).key_id)
    assert revoked is not None and revoked.revoked_at == "2024-02-01T00:00:00.000000Z"


async def test_a_store_takes_a_first_admin_key_once_ever(store: Store) -> None:
    assert await store.add_first_admin_key(key(1, None))
    assert not await store.add_first_admin_key(key(2, None))
    await store.revoke_key(key(1).key_id, "2024-02-01T00:00:00.000000Z")
    assert not await store.add_first_admin_key(key(3, None))
    assert [k.key_id for k in await store.keys()] == [key(1).key_id]


async def test_an_admin_key_made_by_hand_leaves_no_room_for_a_first_one(store: Store) -> None:
    await store.add_key(key(1, "crm"))
    assert await store.add_first_admin_key(key(2, None))  # app keys do not count
    other = await store.add_first_admin_key(key(3, None))
    assert not other and [k.key_id for k in await store.keys()] == [key(1).key_id, key(2).key_id]


async def test_racing_first_admin_keys_store_exactly_one(store: Store) -> None:
    won = await asyncio.gather(*(store.add_first_admin_key(key(n, None)) for n in range(1, 9)))
    assert won.count(True) == 1
    assert [k.key_id for k in await store.keys()] == [key(won.index(True) + 1).key_id]


async def test_a_key_id_is_unique(store: Store) -> None:
    await store.add_key(key(1))
    with pytest.raises(Exception):  # noqa: B017 - each adapter raises its own driver's error
        await store.add_key(key(1))


async def test_connections_keep_the_first_realm_and_list_by_provider(store: Store) -> None:
    first = Connection("crm", "cld-1", "2243", "2024-01-01T00:00:00.000000Z")
    assert await store.connect(first, "org-1") == first
    assert await store.connect(Connection("crm", "cld-1", "9999", "2024-01-02T00:00:00.000000Z"), "org-2") == first
    await store.connect(Connection("crm", "cld-0", "7", "t"), "org-3")
    await store.connect(Connection("erp", "cld-1", "7", "t"), "org-4")
    assert [(c.group_id, c.realm) for c in await store.connections("crm")] == [("cld-0", "7"), ("cld-1", "2243")]
    assert [(c.provider, c.group_id) for c in await store.connections()] == [
        ("crm", "cld-0"),
        ("crm", "cld-1"),
        ("erp", "cld-1"),
    ]
    assert await store.disconnect("crm", "cld-1") and not await store.disconnect("crm", "cld-1")
    assert [c.group_id for c in await store.connections("crm")] == ["cld-0"]
    assert list(await store.connections("nobody")) == []
    assert [await store.group(g) for g in ("cld-0", "cld-1")] == [Group("cld-0", "org-3"), Group("cld-1", "org-1")]
