"""Key links, integration systems and entity types: the id map read and written as a collection.

Every key link is an app id a record holds, so linking, moving and unlinking are edits of
id arrays, under the same rules as an upsert: one record per external id, one id per app.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hub.config import Settings
from hub.errors import Conflict, Invalid, NotFound, quoted
from hub.model import timefmt
from hub.model.change import Kind
from hub.model.collections import COLLECTIONS
from hub.model.ids import ExternalId, ensure_holdable
from hub.model.key_link import (
    KeyLink,
    KeyLinkIn,
    LinkQuery,
    LinkSearch,
    by_stable_id,
    entity_type,
    link_id,
    parse_link_id,
    require,
    required,
    stable_id,
)
from hub.model.record import Record
from hub.service import changes, merging, reading, references
from hub.service.transact import transact
from hub.store.base import Store, Transaction


async def system_names(store: Store, settings: Settings) -> list[str]:
    """The hub's own provider and every provider holding an id, sorted."""
    return sorted({settings.hub_provider, *await store.providers()})


async def systems(store: Store, settings: Settings, name: str | None) -> list[tuple[int, str]]:
    """(integration_system_id, system_name) of every provider, or of the one named (any case)."""
    names = await system_names(store, settings)
    return [(stable_id(n), n) for n in names if name is None or n.lower() == name.strip().lower()]


def entity_types(name: str | None) -> list[tuple[int, str]]:
    """(integration_entity_type_id, entity_type_name) of every collection, or of the one named (any case)."""
    return [(stable_id(c), c) for c in COLLECTIONS if name is None or c == entity_type(name)]


async def search(store: Store, settings: Settings, group_id: str, given: LinkSearch) -> tuple[list[KeyLink], int]:
    """A page of the group's key links; an internal id of a merged-away record means its survivor."""
    await reading.group_or_404(store, group_id)
    query = given.query
    if given.matches_nothing:
        return [], 0
    if given.system_id is not None:
        provider = by_stable_id(await system_names(store, settings), given.system_id)
        if provider is None or query.provider not in (None, provider):
            return [], 0
        query = replace(query, provider=provider)
    if given.internal_id is not None:
        for collection in [query.collection] if query.collection else list(COLLECTIONS):
            found = (await store.get(group_id, collection, [given.internal_id])).get(given.internal_id)
            if found is not None:
                query = replace(query, collection=collection, hub_id=found.hub_id)
                break
        else:
            return [], 0
    return await store.links(group_id, query)


async def one(store: Store, group_id: str, key: str) -> KeyLink:
    await reading.group_or_404(store, group_id)
    named = parse_link_id(key)
    found, _ = await store.links(group_id, _of(*named)) if named else ([], 0)
    if found:
        return found[0]
    raise _no_link(key)


def _of(collection: str, ext: ExternalId) -> LinkQuery:
    """The search for one link."""
    return LinkQuery(collection=collection, provider=ext.provider, realm=ext.realm, ext_id=ext.id, top=1)


async def _written(tx: Transaction, collection: str, ext: ExternalId) -> KeyLink:
    """The link as the transaction left it: read after the commit, a concurrent delete or move answered for it (a
    404 for a link that was made, another request's record for one that was moved)."""
    [found], _ = await tx.links(_of(collection, ext))
    return found


async def _parts(store: Store, settings: Settings, body: KeyLinkIn) -> tuple[str | None, str | None]:
    """The collection and provider a body names, by name or by number; 422 if unknown or disagreeing."""
    collection = None
    if body.entity_type is not None:
        collection = entity_type(body.entity_type)
        if collection is None:
            raise _invalid("entity_type", f"no entity type {body.entity_type!r}; they are {', '.join(COLLECTIONS)}")
    if body.integration_entity_type_id is not None:
        by_id = by_stable_id(COLLECTIONS, body.integration_entity_type_id)
        if by_id is None or collection not in (None, by_id):
            raise _invalid("integration_entity_type_id", "names no entity type, or another than entity_type")
        collection = by_id
    provider = body.provider
    if body.integration_system_id is not None:
        by_number = by_stable_id(await system_names(store, settings), body.integration_system_id)
        if by_number is None or provider not in (None, by_number):
            raise _invalid("integration_system_id", "names no integration system, or another than provider")
        provider = by_number
    if provider == settings.hub_provider:
        raise _invalid("provider", f"{provider!r} is the hub itself: its ids are the records' own, not key links")
    return collection, provider


async def named(store: Store, settings: Settings, body: KeyLinkIn, *needed: str) -> tuple[str, ExternalId]:
    """The entity type and external id a body (a new link's, or one naming a link by its parts) names in full; one
    422 naming every part missing, and every other member `needed` (a new or moved link's `internal_id`)."""
    collection, provider = await _parts(store, settings, body)
    given = {"entity_type": collection, "provider": provider, "realm": body.realm, "external_id": body.external_id}
    parts = required({**given, **{name: getattr(body, name) for name in needed}})
    return parts["entity_type"], ExternalId(parts["provider"], parts["realm"], parts["external_id"])


async def identify(store: Store, settings: Settings, body: KeyLinkIn, *needed: str) -> str:
    """The id of the link a body (or query) names: its `id`, or its entity type, app and external id (and members
    `needed`, as `named` says); 422 for a name beside the `id` that is not its link's (ignored, a DELETE naming two
    links unlinked the `id`'s)."""
    if body.id is None:
        collection, ext = await named(store, settings, body, *needed)
        return link_id(collection, ext)
    given = parse_link_id(body.id)
    if given is not None and (other := _differs(body, *await _parts(store, settings, body), *given)) is not None:
        raise _invalid(other, f"names another link than id {body.id!r}")
    return body.id


def _differs(body: KeyLinkIn, collection: str | None, provider: str | None, kind: str, ext: ExternalId) -> str | None:
    """The first part of a link a body names (`collection` and `provider` as resolved) otherwise than the link of
    entity type `kind` and external id `ext` is, or None."""
    given = {"entity_type": collection, "provider": provider, "realm": body.realm, "external_id": body.external_id}
    own = {"entity_type": kind, "provider": ext.provider, "realm": ext.realm, "external_id": ext.id}
    return next((name for name, value in given.items() if value not in (None, own[name])), None)


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", errors=[{"field": field, "message": message}])


async def _record(tx: Transaction, collection: str, hub_id: str) -> Record:
    found = (await tx.get(collection, [hub_id])).get(hub_id)
    if found is None:
        raise NotFound(f"internal_id: no {collection} record with hub id {quoted(hub_id)}")
    return found


async def create(store: Store, settings: Settings, group_id: str, body: KeyLinkIn, actor: str) -> KeyLink:
    """Link an app id to an existing record: 404 if there is no such record, 409 if the id is taken; a placeholder
    holding it is merged with the record instead (`merging.taking_in`)."""
    group = await reading.group_or_404(store, group_id)
    collection, ext = await named(store, settings, body, "internal_id")
    internal_id = require(body.internal_id, "internal_id")

    async def work(tx: Transaction) -> KeyLink:
        record = await _record(tx, collection, internal_id)
        holders = await tx.match(collection, [ext])
        if holders and all(r.placeholder and r.hub_id != record.hub_id for r in holders):
            entity = COLLECTIONS[collection]
            await merging.taking_in(tx, settings, group, entity, record, holders, ext, actor, "key_link")
            return await _written(tx, collection, ext)
        if holders:
            raise Conflict(
                f"{ext.provider} (realm {ext.realm}) id {ext.id} is linked already, to record {holders[0].hub_id}",
                internal_id=holders[0].hub_id,
                key_link=link_id(collection, ext),
            )
        ensure_holdable([*record.ids, ext], records=[record.hub_id])
        before = changes.touch(record, timefmt.now())
        await tx.save(record, [ext])
        await changes.record_current(
            tx, "link", collection, record.hub_id, [before], **_named_in_changes(collection, ext)
        )
        return await _written(tx, collection, ext)

    return await transact(store, group_id, work)


def _no_link(key: str) -> NotFound:
    """The 404 of a link id naming no link, quoted and cut to 40 characters (a path of thousands came back whole)."""
    return NotFound(f"no key link {quoted(key)}")


async def _holder(tx: Transaction, key: str) -> tuple[str, ExternalId, Record]:
    named = parse_link_id(key)
    holders = await tx.match(named[0], [named[1]]) if named else []
    if named is None or not holders:
        raise _no_link(key)
    return named[0], named[1], holders[0]


async def move(store: Store, settings: Settings, group_id: str, key: str, body: KeyLinkIn, actor: str) -> KeyLink:
    """Move a link to another record of its entity type, under the rules of a new link; a link of a placeholder
    merges it into that record (`merging.taking_in`), its ids with it. A body's `id` must be the link's, if given:
    ignored, a client meaning another link moved this one."""
    if body.id is not None and body.id != key:
        raise _invalid("id", f"names another link than {key!r}")
    group = await reading.group_or_404(store, group_id)
    collection, provider = await _parts(store, settings, body)
    internal_id = require(body.internal_id, "internal_id")

    async def work(tx: Transaction) -> KeyLink:
        kind, ext, holder = await _holder(tx, key)
        if (changed := _differs(body, collection, provider, kind, ext)) is not None:
            raise _invalid(changed, "a link moves to another record but keeps its app and id; delete it and link anew")
        target = await _record(tx, kind, internal_id)
        if target.hub_id == holder.hub_id:
            return await _written(tx, kind, ext)
        if holder.placeholder:
            await merging.taking_in(tx, settings, group, COLLECTIONS[kind], target, [holder], ext, actor, "key_link")
            return await _written(tx, kind, ext)
        ensure_holdable([*target.ids, ext], records=[target.hub_id])
        await tx.move_ids(kind, [ext], target.hub_id)
        await tx.forget_directions(kind, [ext])  # connected to the record it left, not to this one
        unlinked: tuple[Record, Kind] = (holder, "unlink")
        linked: tuple[Record, Kind] = (target, "link")
        now = timefmt.now()
        for record, change in (unlinked, linked):
            before = changes.touch(record, now)
            await tx.save(record, [])
            await changes.record_current(tx, change, kind, record.hub_id, [before], **_named_in_changes(kind, ext))
        await references.ids_left(tx, kind, [holder.hub_id], now)
        return await _written(tx, kind, ext)

    return await transact(store, group_id, work)


def _named_in_changes(collection: str, ext: ExternalId) -> dict[str, Any]:
    """The `details` of a key link's change: the link's id, and the app id it links, which an app reading an `unlink`
    otherwise had to decode from the link's id to know which of its ids left the record."""
    return {"key_link": link_id(collection, ext), "external_id": ext.as_json()}


async def delete(store: Store, group_id: str, key: str) -> None:
    """Unlink an app id; the record stays, without it."""
    await reading.group_or_404(store, group_id)

    async def work(tx: Transaction) -> None:
        kind, ext, holder = await _holder(tx, key)
        await tx.unlink(kind, [ext])
        await tx.forget_directions(kind, [ext])  # left behind, they held for the next record the id was linked to
        before = changes.touch(holder, timefmt.now())
        await tx.save(holder, [])
        await changes.record_current(tx, "unlink", kind, holder.hub_id, [before], **_named_in_changes(kind, ext))
        await references.ids_left(tx, kind, [holder.hub_id], holder.updated_at)

    await transact(store, group_id, work)
