"""The MongoDB document layout, its indexes, and the translation of list and key link queries.

A record is one document in `records`:

    {_id: <hub id>, group, collection, seq, status, created_at, updated_at,
     fields: {...}, placeholder, merged_into (tombstones only),
     ids:  [{provider, realm, id, created_at, n}, ...]  # the id array, in link order
     keys: [<id key>, ...]                             # one per id; absent when there are none
     apps: [<app key>, ...]}                           # one per id; absent when there are none

Each id entry is also a key link: there is no second copy of the id map. Its `created_at` is
when it was linked and `n` its place among the ids linked by the same write, so (created_at,
n) is the order links were made in. It never changes: an id moved to another record (a merge,
a key link moved, an undo) keeps its entry, and every write keeps `ids` in that order.

Why a derived string key per id rather than a compound unique index over group,
collection, `ids.provider`, `ids.realm` and `ids.id`: the compound form is right only under
subtle multikey rules (keys are paired per array element only while all three paths run
through the same array; an empty array or a missing part is indexed as undefined/null and
clashes with every other such record), and a lookup by one id can combine the bounds of
the three parts only inside `$elemMatch`, else it scans every key sharing one part. One
string per id, holding all five parts, in a single-field unique multikey index is plain:
two documents clash if and only if they hold the same external id in the same group and
collection, and a lookup is a point lookup.

The key is the JSON array of the parts rather than the parts joined by a separator,
because an id part may contain any character: JSON string encoding is injective.

The index is partial (`keys` exists) and the field is left out when a record holds no
ids (a record created without ids, a tombstone): MongoDB indexes an empty array as one
`undefined` key, and a plain unique index would let only one such record exist.

A unique index does not look inside one document, so it cannot say "one id per app per
record". The adapter enforces that rule itself with conditional writes: new ids are added
only by an update whose filter says the record holds no id of their apps
(`apps: {$nin: [...]}`), and a merge or a move rewrites a record's ids only if they are still
what it read; a write that matches nothing is a race lost, reported as IdTaken.

Key link searches by app or external id use non-unique multikey indexes over the parts of
the entries (`ids.provider`, `ids.realm`, `ids.id`), always queried inside `$elemMatch` so
that the bounds of the parts combine on one entry.

Besides `records`: `groups` (`_id` = group id), `counters` (the codes), `merges` (one
document per recorded merge: `{_id: <merge id>, group, collection, at, members: [<hub id>,
...], entry: {...}}`, `entry` being MergeEntry.as_json()), and `providers` (`_id` = a
provider that was ever linked: the candidates of the list of providers, each then checked
by one index lookup for an id it still holds), `live_counts` (the totals of unfiltered pages,
kept by every write: `mongo_counts`) and `status_counts` and `app_status_counts` (those of a
filter on the status alone, of all records and of an app's, kept alike). The change feed,
integrations and field sync are laid out in `mongo_sync`, the outbound queue in `mongo_queue`,
keys and connections in `mongo_access`; `mongo_schema` makes them all as the store opens.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import orjson

from hub.model import timefmt
from hub.model.collections import Collection
from hub.model.field_index import REFERENCE_FIELDS
from hub.model.filter import And, Comparison, In, Node, Not, Or
from hub.model.ids import ExternalId
from hub.model.key_link import LinkQuery, position_number, position_of, position_parts
from hub.model.keyset import codes_descend
from hub.model.list_query import ListQuery
from hub.model.record import Record

Query = dict[str, Any]


def id_key(group_id: str, collection: str, ext: ExternalId) -> str:
    """The string the unique index holds for one external id of one record."""
    return orjson.dumps([group_id, collection, ext.provider, ext.realm, ext.id]).decode()


def holding(keys: list[str]) -> Query:
    """The filter of the records holding any of these id keys (`id_key`), in the partial unique index: it holds only
    the records that have `keys`, and the filter says so, so that the index is seen to serve it."""
    return {"keys": {"$exists": True, "$in": keys}}


def app_key(provider: str, realm: str) -> str:
    """The string `apps` holds for an app, for `opts[linked]` and the one-id-per-app rule."""
    return orjson.dumps([provider, realm]).decode()


def counter_key(group_id: str, collection: str) -> str:
    return orjson.dumps([group_id, collection]).decode()


Index = tuple[list[tuple[str, int]], dict[str, Any]]

HISTORY_ORDER = [("at", -1), ("_id", -1)]
"""A record's merge history, newest first: by time, then merge id (both kept as an undo replaces the entry)."""

INDEXES: dict[str, dict[str, Index]] = {
    "records": {
        # An external id belongs to at most one record per group and collection; a key link by its id.
        "keys_unique": ([("keys", 1)], {"unique": True, "partialFilterExpression": {"keys": {"$exists": True}}}),
        # Codes are unique; also the default order of a page.
        "group_collection_seq": ([("group", 1), ("collection", 1), ("seq", 1)], {"unique": True}),
        # Incremental sync (`updated_at gt …`) and creation-time filters; a page in either time's order (then the
        # code's, as every order ends: read backward, newest first), from its start after a `$skiptoken` on, without
        # sorting what follows.
        "group_collection_updated_seq": ([("group", 1), ("collection", 1), ("updated_at", 1), ("seq", 1)], {}),
        "group_collection_created_seq": ([("group", 1), ("collection", 1), ("created_at", 1), ("seq", 1)], {}),
        # `opts[linked]=true`: the records an app holds an id in, in code order.
        "group_collection_apps_seq": ([("group", 1), ("collection", 1), ("apps", 1), ("seq", 1)], {}),
        # `status eq 'ARCHIVED'`: the archived records alone, in code order.
        "group_collection_archived": (
            [("group", 1), ("collection", 1), ("seq", 1)],
            {"partialFilterExpression": {"status": "ARCHIVED"}},
        ),
        # `status eq 'INACTIVE'`: the inactive records alone, in code order.
        "group_collection_inactive": (
            [("group", 1), ("collection", 1), ("seq", 1)],
            {"partialFilterExpression": {"status": "INACTIVE"}},
        ),
        # A merge re-points the tombstones of the merged record, an undo finds them; only tombstones have the field.
        "merged_into": ([("merged_into", 1)], {"sparse": True}),
        # Key links by app (and realm, and id); whether a provider still holds any id.
        "ids_provider": ([("ids.provider", 1), ("group", 1), ("ids.realm", 1), ("ids.id", 1)], {}),
        # Key links by external id alone.
        "group_ids_id": ([("group", 1), ("ids.id", 1)], {}),
        # Key links made in a span of time.
        "group_ids_created": ([("group", 1), ("ids.created_at", 1)], {}),
        # Every reference field, as a field index (`mongo_fields`) would have it: the records referring to one whose
        # id left it (`referrers`), and a `$filter` on the field.
        **{
            f"ref__{index.slug}": (
                [("group", 1), (f"fields.{index.path[0]}", 1), ("seq", 1)],
                {"partialFilterExpression": {"collection": index.collection}},
            )
            for index in REFERENCE_FIELDS
        },
    },
    # The merges a record (or a tombstone pointing to it) took part in, in the order of its history (`HISTORY_ORDER`):
    # mongod reads each hub id's run from the page's start and merges the runs in order, stopping at the page's end.
    "merges": {"members_at": ([("members", 1), *HISTORY_ORDER], {})},
    # By `_id` alone; created up front, as a transaction writes them (the codes, the counts, a new group) or a read
    # transaction reads them (the providers): mongod makes a collection inside a transaction only under
    # restrictions (never in a cross-shard one), and a transaction whose snapshot is older than a collection may
    # not read it.
    "counters": {},
    "live_counts": {},
    "status_counts": {},
    "app_status_counts": {},
    "groups": {},
    "providers": {},
}
"""Collection -> index name -> (keys, options); created idempotently at start-up."""

RETIRED: dict[str, tuple[str, ...]] = {
    "records": (
        "group_collection_apps",
        "group_collection_updated",
        "group_collection_created",
        "group_collection_updated_desc_seq",
        "group_collection_created_desc_seq",
        *(f"field__{index.slug}" for index in REFERENCE_FIELDS),
    ),
    "merges": ("members",),
}
"""Indexes an older hub made that others replaced, dropped as a store opens, before it makes its own: those with
`_seq` give their records in code order after the rest of their key, which one without the code sorted; a field
index of a reference field (`hub index add people organization_id`) has the keys of its `ref__` index, and MongoDB
refuses a second index of the same keys under another name (IndexOptionsConflict); `members` found a record's
merges but not in the order of its history, which `members_at` pages through; the `_desc_seq` time indexes gave a
page newest first with its ties by code ascending, which now come descending (`codes_descend`), as the ascending
ones read backward give them."""

_TOP = {"id": "_id", "status": "status", "created_at": "created_at", "updated_at": "updated_at"}
_CMP = {"gt": "$gt", "ge": "$gte", "lt": "$lt", "le": "$lte"}


def field(path: tuple[str, ...]) -> str:
    """The document path of a field; paths are checked against the model before this."""
    if path == ("code",):
        return "seq"
    if len(path) == 1 and path[0] in _TOP:
        return _TOP[path[0]]
    return "fields." + ".".join(path)


def _truth(collection: Collection, node: Node) -> tuple[Query, Query]:
    """(where `node` is true, where it is false): each the other's complement, as every filter is true or false
    (README, "Fetch a collection").

    MongoDB's own operators already agree: `{f: null}` and `$in: [null]` take in documents without `f`, and
    `$ne`, `$nin` and `$not` take them in where the operator does not. Each node is compiled to both of its
    outcomes, so that `not` swaps them, rather than wrapped in `$nor`: an index serves `$not` of a range.
    """
    if isinstance(node, Comparison):
        path, value = field(node.field), collection.operand(node.field, node.value)
        if node.op == "eq":
            return {path: value}, {path: {"$ne": value}}
        if node.op == "ne":
            return {path: {"$ne": value}}, {path: value}
        op = _CMP[node.op]
        return {path: {op: value}}, {path: {"$not": {op: value}}}
    if isinstance(node, In):
        path = field(node.field)
        values = [collection.operand(node.field, v) for v in node.values]
        return {path: {"$in": values}}, {path: {"$nin": values}}
    if isinstance(node, Not):
        true, false = _truth(collection, node.item)
        return false, true
    assert isinstance(node, And | Or)
    pairs = [_truth(collection, item) for item in node.items]
    trues, falses = [t for t, _ in pairs], [f for _, f in pairs]
    if isinstance(node, And):
        return {"$and": trues}, {"$or": falses}
    return {"$or": trues}, {"$and": falses}


def compile_filter(collection: Collection, node: Node) -> Query:
    """The documents for which the filter is true."""
    return _truth(collection, node)[0]


def compile_list(group_id: str, collection: Collection, query: ListQuery) -> Query:
    """The find filter of a page of live records."""
    clauses: list[Query] = [{"group": group_id, "collection": collection.name, "merged_into": None}]
    if not query.include_archived:
        clauses.append({"status": {"$ne": "ARCHIVED"}})
    if query.app is not None:
        app = app_key(*query.app)
        clauses.append({"apps": app} if query.linked else {"apps": {"$ne": app}})
    if query.filter is not None:
        clauses.append(compile_filter(collection, query.filter))
    return {"$and": clauses}


def compile_order(query: ListQuery) -> list[tuple[str, int]]:
    """The sort keys, then the code (`codes_descend`), as the SQLite adapter orders (a repeated field counts once)."""
    keys: dict[str, int] = {}
    for path, desc in query.order:
        keys.setdefault(field(path), -1 if desc else 1)
    keys.setdefault("seq", -1 if codes_descend(query.order) else 1)
    return list(keys.items())


def compile_links(group_id: str, query: LinkQuery) -> list[Query]:
    """The aggregation of a key link search: the records holding a matching id, found by an
    index; then each matching id entry on its own, in link order; one page of them and the total."""
    where: Query = {"group": group_id}
    if query.collection is not None:
        where["collection"] = query.collection
    if query.hub_id is not None:
        where["_id"] = query.hub_id
    entry: Query = {}
    for name, value in (("provider", query.provider), ("realm", query.realm), ("id", query.ext_id)):
        if value is not None:
            entry[name] = value
    span: Query = {}
    if query.created_after is not None:
        span["$gt"] = query.created_after
    if query.created_before is not None:
        span["$lt"] = query.created_before
    if span:
        entry["created_at"] = span
    collection, provider, realm, ext_id = query.collection, query.provider, query.realm, query.ext_id
    if collection is not None and provider is not None and realm is not None and ext_id is not None:
        # One link by its id: a point lookup in the unique index.
        where["keys"] = {"$exists": True, "$eq": id_key(group_id, collection, ExternalId(provider, realm, ext_id))}
    if entry:
        where["ids"] = {"$elemMatch": entry}
    pipeline: list[Query] = [{"$match": where}, {"$project": {"collection": 1, "ids": 1}}, {"$unwind": "$ids"}]
    if entry:
        pipeline.append({"$match": {f"ids.{name}": value for name, value in entry.items()}})
    order = {field: 1 for field in LINK_ORDER}
    start = [] if query.after is None else [{"$match": _after(query.after)}]
    page = [*start, {"$sort": order}, {"$skip": query.offset}, {"$limit": max(query.top, 1)}]
    pipeline.append({"$facet": {"page": page, "total": [{"$count": "n"}]}})
    return pipeline


LINK_ORDER = ("ids.created_at", "ids.n", "collection", "ids.provider", "ids.realm", "ids.id")
"""Link order: when a link was made, its place in that write, then the link itself (links of several records made
at one moment). Never its record: a link moved to another (a merge, a key link moved, an undo) keeps its place, where
a tie broken by record put one shown last on a page and moved to a newer record on the next page again."""


def link_position(entry: Query, collection: str) -> str:
    """A link's place in link order (`KeyLink.position`): its id entry's time and number, and the link."""
    at, n = link_order(entry)
    return position_of(at, n, collection, entry["provider"], entry["realm"], entry["id"])


EARLIER_LINK_ORDER = ("ids.created_at", "ids.n", "_id")
"""Link order before `LINK_ORDER`, ties broken by the record: the order of a `$skiptoken` an earlier hub handed out."""


def _after(position: str) -> Query:
    """The id entries after `position` in `LINK_ORDER`: past it in one field, equal in those before. A position an
    earlier hub made (`EARLIER_LINK_ORDER`) is read in its order, so that a walk begun before the hub was upgraded
    goes on from its place: refused, the app had no word of why, nor a place to go on from."""
    at, n, *named = position_parts(position, len(LINK_ORDER), len(EARLIER_LINK_ORDER))
    values = [at, position_number(position, n), *named]
    order = LINK_ORDER if len(values) == len(LINK_ORDER) else EARLIER_LINK_ORDER
    return {
        "$or": [
            {**dict(zip(order[:k], values[:k], strict=True)), order[k]: {"$gt": values[k]}} for k in range(len(order))
        ]
    }


# Records as documents


def entries(ids: Sequence[ExternalId], now: str) -> list[Query]:
    """The id entries of ids linked now, in the order given."""
    return [
        {"provider": e.provider, "realm": e.realm, "id": e.id, "created_at": now, "n": n} for n, e in enumerate(ids)
    ]


def ext(entry: Query) -> ExternalId:
    return ExternalId(entry["provider"], entry["realm"], entry["id"])


def link_order(entry: Query) -> tuple[str, int]:
    """Where an id entry stands among the links: when it was made, then its place in that write."""
    return str(entry.get("created_at", "")), int(entry.get("n", 0))


def index_fields(group_id: str, collection: str, ids: Sequence[ExternalId]) -> Query:
    """`keys` and `apps` of an id array; absent when it is empty (see above)."""
    if not ids:
        return {}
    return {"keys": [id_key(group_id, collection, e) for e in ids], "apps": [app_key(*e.app) for e in ids]}


def set_ids(group_id: str, collection: str, held: list[Query]) -> Query:
    """The update operators that make a record hold exactly the id entries `held`."""
    fields = index_fields(group_id, collection, [ext(e) for e in held])
    update: Query = {"$set": {"ids": held, **fields}}
    if not fields:
        update["$unset"] = {"keys": "", "apps": ""}
    return update


def document(record: Record) -> Query:
    doc: Query = {
        "_id": record.hub_id,
        "group": record.group_id,
        "collection": record.collection,
        "seq": record.seq,
        "status": record.status,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "fields": record.fields,
        "placeholder": record.placeholder,
        "ids": entries(record.ids, timefmt.now()),
        **index_fields(record.group_id, record.collection, record.ids),
    }
    if record.merged_into is not None:
        doc["merged_into"] = record.merged_into
    return doc


def record(doc: Query) -> Record:
    return Record(
        doc["_id"],
        doc["group"],
        doc["collection"],
        int(doc["seq"]),
        doc["status"],
        doc["created_at"],
        doc["updated_at"],
        dict(doc.get("fields") or {}),
        [ext(e) for e in doc.get("ids") or []],
        doc.get("merged_into"),
        bool(doc.get("placeholder")),
    )


async def aggregated(pending: Any) -> list[Query]:
    """The documents of an aggregation (PyMongo's async API awaits the cursor; a Motor-shaped double does not)."""
    if inspect.isawaitable(pending):
        pending = await pending
    return list(await pending.to_list(None))
