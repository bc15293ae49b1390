"""Reading records: one by hub id or app id, a page of a collection, and what their references point to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

from hub.errors import NotFound, quoted
from hub.model.collections import Collection
from hub.model.filter import And, Comparison, In, Node, Not, Or, Value
from hub.model.ids import ExternalId
from hub.model.list_query import ListQuery
from hub.model.record import Group, Record
from hub.store.base import Store, Transaction


@dataclass
class View:
    """Records to render, their group, and the live records their reference fields point to."""

    group: Group
    records: list[Record]
    refs: dict[tuple[str, str], Record]
    total: int | None = None


def no_group(group_id: str) -> NotFound:
    """The one answer for a group that does not exist and for one the caller is not connected to."""
    return NotFound(f"no group {group_id}")


async def group_or_404(store: Store, group_id: str) -> Group:
    group = await store.group(group_id)
    if group is None:
        raise no_group(group_id)
    return group


async def is_hub(store: Store, hub_provider: str, group_id: str, app: tuple[str, str] | None) -> bool:
    """Whether `app` (`opts[provider]`, `opts[realm]`) names the hub's own ids in the group (its provider, the group's
    channel): the id array shows the hub id as one entry among the apps', so a client may name a record by any entry."""
    if app is None or app[0] != hub_provider:
        return False
    group = await store.group(group_id)
    return group is not None and group.channel_id == app[1]


async def locate(store: Store, group_id: str, collection: Collection, key: str, app: tuple[str, str] | None) -> Record:
    """The live record a path id names: a hub id (or alias), or app `app`'s id."""
    if app is None:
        record = (await store.get(group_id, collection.name, [key])).get(key)
    else:
        record = await store.find(group_id, collection.name, ExternalId(app[0], app[1], key))
    return _found(record, collection, key, app)


async def locate_in(tx: Transaction, collection: Collection, key: str, app: tuple[str, str] | None) -> Record:
    """The live record a path id names, as the transaction of a write to it sees it: found before, a link moved or
    a merge undone in between left the write acting on a record that no longer held the id (a PUT by an app id
    then merged the two, a DELETE archived the other one)."""
    if app is None:
        record = (await tx.get(collection.name, [key])).get(key)
    else:
        holders = await tx.match(collection.name, [ExternalId(app[0], app[1], key)])
        record = holders[0] if holders else None
    return _found(record, collection, key, app)


def _found(record: Record | None, collection: Collection, key: str, app: tuple[str, str] | None) -> Record:
    if record is None:
        owner = f"{app[0]} (realm {app[1]}) id" if app else "hub id"
        raise NotFound(f"no {collection.name} record with {owner} {quoted(key)}")
    return record


Get = Callable[[str, Sequence[str]], Awaitable[dict[str, Record]]]
"""Live records of a collection by hub id: `Transaction.get`, or `Store.get` of one group."""
Aliases = Callable[[str, str], Awaitable[list[str]]]
"""The hub ids of the records merged into a live record of a collection: `Transaction.aliases`, or `Store.aliases` of
one group."""


async def referenced(get: Get, collection: Collection, records: list[Record]) -> dict[tuple[str, str], Record]:
    """The live records behind the records' reference fields, one lookup per referenced collection."""
    refs: dict[tuple[str, str], Record] = {}
    for name, target in collection.references.items():
        wanted = [r.fields[name] for r in records if isinstance(r.fields.get(name), str)]
        if wanted:
            found = await get(target, wanted)
            refs.update({(target, hub_id): record for hub_id, record in found.items()})
    return refs


async def view(
    store: Store, group: Group, collection: Collection, records: list[Record], total: int | None = None
) -> View:
    """The records with the live records behind every reference field."""

    def get(target: str, hub_ids: Sequence[str]) -> Awaitable[dict[str, Record]]:
        return store.get(group.group_id, target, hub_ids)

    return View(group, records, await referenced(get, collection, records), total)


async def fetch_one(store: Store, group_id: str, collection: Collection, key: str, app: tuple[str, str] | None) -> View:
    group = await group_or_404(store, group_id)
    record = await locate(store, group_id, collection, key, app)
    return await view(store, group, collection, [record])


async def fetch_page(store: Store, group_id: str, collection: Collection, query: ListQuery) -> View:
    group = await group_or_404(store, group_id)
    if query.filter is not None:
        get, aliases = partial(store.get, group_id), partial(store.aliases, group_id)
        query = replace(query, filter=await through_merges(get, aliases, collection, query.filter))
    records, total = await store.list(group_id, collection, query)
    return await view(store, group, collection, records, total)


async def through_merges(get: Get, aliases: Aliases, collection: Collection, node: Node) -> Node:
    """`node` with each hub id a reference field is compared to (`eq`, `ne`, `in`) standing for the record it names
    now and every record merged into that one: a record refers to the one it was given, which a merge may since
    have made a tombstone, and shows the survivor. `organization_id eq 'O'` left out the people of an
    organization merged into O, all shown with O, and `eq` the merged one's id found them. The record's own `id`
    is taken so too: a merged-away hub id names its survivor, as a GET by it answers."""
    if isinstance(node, Not):
        return Not(await through_merges(get, aliases, collection, node.item))
    if isinstance(node, And | Or):
        return type(node)(tuple([await through_merges(get, aliases, collection, item) for item in node.items]))
    field = node.field[0] if len(node.field) == 1 else None
    target = collection.name if field == "id" else collection.references.get(field or "")
    if target is None or (isinstance(node, Comparison) and node.op not in ("eq", "ne")):
        return node
    given = [node.value] if isinstance(node, Comparison) else list(node.values)
    same: list[Value] = []
    for value in given:
        same.extend(await _one_and_merged(get, aliases, target, value) if isinstance(value, str) else [value])
    values = tuple(dict.fromkeys(same))
    if values == tuple(given):
        return node
    # `eq` becomes one `in` however many records were merged (an `or` per id passed SQLite's expression depth at
    # ~450), and `ne` the `not` of it.
    same_record = In(node.field, values)
    return Not(same_record) if isinstance(node, Comparison) and node.op == "ne" else same_record


async def _one_and_merged(get: Get, aliases: Aliases, collection: str, hub_id: str) -> list[str]:
    """The live record `hub_id` names (itself, or the survivor of its merge) and the records merged into it."""
    found = (await get(collection, [hub_id])).get(hub_id)
    if found is None:
        return [hub_id]
    return [found.hub_id, *await aliases(collection, found.hub_id)]
