"""The SQLite schema and the translation of a list query into indexed SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Set
from dataclasses import dataclass
from typing import Any

import orjson

from hub.model.collections import META_KINDS, Collection
from hub.model.filter import And, Comparison, In, Node, Not, Or, fields_of
from hub.model.ids import NUL, ExternalId
from hub.model.key_link import LinkQuery
from hub.model.keyset import Order
from hub.model.list_query import ListQuery

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    group_id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
    group_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (group_id, collection)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    hub_id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    merged_into TEXT,
    placeholder INTEGER NOT NULL DEFAULT 0,
    UNIQUE (group_id, collection, seq)
);
DROP INDEX IF EXISTS records_updated;
CREATE INDEX IF NOT EXISTS records_live_updated ON records (group_id, collection, updated_at, status, seq)
    WHERE merged_into IS NULL;
CREATE INDEX IF NOT EXISTS records_created ON records (group_id, collection, created_at);
CREATE INDEX IF NOT EXISTS records_merged ON records (merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_archived ON records (group_id, collection, seq)
    WHERE status IS 'ARCHIVED' AND merged_into IS NULL;
CREATE INDEX IF NOT EXISTS records_inactive ON records (group_id, collection, seq)
    WHERE status IS 'INACTIVE' AND merged_into IS NULL;
CREATE TABLE IF NOT EXISTS external_ids (
    link INTEGER PRIMARY KEY,
    group_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    provider TEXT NOT NULL,
    realm TEXT NOT NULL,
    ext_id TEXT NOT NULL,
    hub_id TEXT NOT NULL REFERENCES records (hub_id),
    created_at TEXT NOT NULL,
    seq INTEGER NOT NULL,
    UNIQUE (group_id, collection, provider, realm, ext_id),
    UNIQUE (hub_id, provider, realm)
);
DROP INDEX IF EXISTS external_ids_group;
CREATE INDEX IF NOT EXISTS external_ids_by_type ON external_ids (group_id, collection);
DROP INDEX IF EXISTS external_ids_app;
DROP INDEX IF EXISTS external_ids_by_app;
CREATE INDEX IF NOT EXISTS external_ids_of_app ON external_ids (group_id, collection, provider, realm);
CREATE INDEX IF NOT EXISTS external_ids_ext ON external_ids (group_id, ext_id);
CREATE INDEX IF NOT EXISTS external_ids_created ON external_ids (group_id, created_at);
CREATE INDEX IF NOT EXISTS external_ids_app_created ON external_ids (group_id, collection, provider, realm, created_at);
CREATE INDEX IF NOT EXISTS external_ids_held ON external_ids (group_id, collection, provider, realm, seq);
CREATE TABLE IF NOT EXISTS merges (
    seq INTEGER PRIMARY KEY,
    merge_id TEXT NOT NULL UNIQUE,
    group_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS merge_members (
    hub_id TEXT NOT NULL,
    merge_seq INTEGER NOT NULL REFERENCES merges (seq),
    PRIMARY KEY (hub_id, merge_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    provider TEXT,
    secret_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS connections (
    provider TEXT NOT NULL,
    group_id TEXT NOT NULL,
    realm TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (provider, group_id)
) WITHOUT ROWID;
"""
"""External ids are unique per group and collection, and one app holds one id per
record: both are UNIQUE constraints, so no race can break them. The rows of
`external_ids` are the key links too; their indexes serve a search by app within an entity type, or by
entity type, in link order (any other search merges several), by external id alone, or by the time links
were made (the list of providers reads the kept counts, `sqlite_counts.PROVIDERS`). Each
link carries its record's code number (`seq`, kept as ids are linked, moved and merged), so the records an
app holds come in code order from `external_ids_held` (`opts[linked]=true`), wherever they lie among the
group's. A merge is recorded in `merges` (its JSON entry) with one `merge_members` row per record
it involved, so a record's merges are an index lookup. `records_live_updated` holds only live records
(tombstones are never listed) with their status and code number, so an incremental
sync (`updated_at gt …`) picks its page and counts its total from the index alone. `records_archived` holds
the archived records alone, in code order: `status eq 'ARCHIVED'` (`IS`, as `$filter` compiles `eq`, so that
SQLite sees the partial index serves it) read the group's records (660 ms at 1M records, 2.2 ms now); an archive is
a rare write. `records_inactive` holds the inactive ones as well, for `status eq 'INACTIVE'` (the totals of such
filters are kept: `sqlite_counts.STATUS_SCHEMA`, `APP_STATUS_SCHEMA`). An
API key keeps only the hash of its secret; an app holds one realm per group it is
connected to."""


def lacks_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether `table` is there without `column`: a database written before the column was added to it."""
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    return bool(columns) and column not in columns


def carry_codes(conn: sqlite3.Connection) -> None:
    """Give each link of a database written before links carried their record's code number its record's, before
    `SCHEMA` makes the index over them (one UPDATE over the links, in the caller's transaction)."""
    if lacks_column(conn, "external_ids", "seq"):
        conn.execute("ALTER TABLE external_ids ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
        conn.execute(
            "UPDATE external_ids SET seq = (SELECT r.seq FROM records AS r WHERE r.hub_id = external_ids.hub_id)"
        )


STATUS_INDEXES = {"ARCHIVED": "records_archived", "INACTIVE": "records_inactive"}
"""The statuses whose records a partial index of their own holds in code order, and its name. A comparison with one
is written with the status in the statement, as the index is: SQLite then knows the index says it and leaves out the
test of each record's status (bound, 10,000 inactive records among 100k were counted in 33 ms, now 10 ms), and a
statement may name the index (`INDEXED BY`) before its parameters are bound."""

CODE_INDEX = "sqlite_autoindex_records_2"
"""The index of `records`' UNIQUE (group_id, collection, seq), as SQLite names it: a group's records in code order."""

RECORD_COLUMNS = "hub_id, group_id, collection, seq, status, created_at, updated_at, data, merged_into, placeholder"
"""The columns of `records` a Record is read from, in this order."""


def each_id(table: str, alias: str) -> str:
    """FROM and WHERE text finding `table`'s rows (as `alias`) of each id of a JSON array, one by one in the
    (group, collection, provider, realm, ext_id) key; its parameters: `id_array(ids)`, the group, the collection.

    Asked as or'ed terms, three ids or more made SQLite read the group's ids (3 ms at 30k records),
    and a batch's ids were more than its 1,000 terms.
    """
    return (
        f"json_each(?) AS j CROSS JOIN {table} AS {alias} WHERE {alias}.group_id = ? AND {alias}.collection = ?"
        f" AND {alias}.provider = json_extract(j.value, '$[0]') AND {alias}.realm = json_extract(j.value, '$[1]')"
        f" AND {alias}.ext_id = json_extract(j.value, '$[2]')"
    )


WHERE_ID = "group_id = ? AND collection = ? AND provider = ? AND realm = ? AND ext_id = ?"
"""One id in the (group, collection, provider, realm, ext_id) key of `external_ids` and of `field_sync`."""


def delete_ids(conn: sqlite3.Connection, table: str, group_id: str, collection: str, ids: Iterable[ExternalId]) -> None:
    """Delete `table`'s rows of each of `ids`: an id's link (`external_ids`) or its sync directions (`field_sync`)."""
    conn.executemany(
        f"DELETE FROM {table} WHERE {WHERE_ID}", [(group_id, collection, e.provider, e.realm, e.id) for e in ids]
    )


def id_array(ids: Iterable[ExternalId]) -> str:
    """The JSON array `each_id` reads, each id once. An id holding U+0000 is left out: SQLite's JSON would
    cut it short there (`a<NUL>b` read as `a`), and none is ever stored (the API refuses them)."""
    return orjson.dumps([list(e) for e in dict.fromkeys(ids) if NUL not in "".join(e)]).decode()


_COLUMNS = {"id": "r.hub_id", "status": "r.status", "created_at": "r.created_at", "updated_at": "r.updated_at"}
_OPS = {"eq": "IS", "ne": "IS NOT", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def column(path: tuple[str, ...]) -> str:
    """The SQL expression of a field; paths are checked against the model before this."""
    if path == ("code",):
        return "r.seq"
    if len(path) == 1 and path[0] in _COLUMNS:
        return _COLUMNS[path[0]]
    return declared(path, "r.")


def declared(path: tuple[str, ...], table: str = "") -> str:
    """The SQL expression of a declared field, kept in the record's JSON; an index on the field is on this very
    expression (without the table), or SQLite would not see that it serves a query."""
    return f"json_extract({table}data, '$." + ".".join(path) + "')"


def compile_filter(
    collection: Collection, node: Node, params: list[Any], off: frozenset[tuple[str, ...]] = frozenset()
) -> str:
    """The SQL condition true where the filter is; false or NULL where it is not; its conditions on the fields `off`
    kept off their indexes (a unary `+`), so that SQLite reads another (`sqlite_indexed.kept_off`).

    A filter is two-valued (README, "Fetch a collection"), SQL three-valued: an order comparison with NULL is
    NULL. At the top of a WHERE, and under AND and OR, NULL leaves a record out as false would, so only a `not`
    must turn it into false (`IS TRUE`) before negating; the other conditions stay as plain as the indexes need.
    """
    if isinstance(node, Comparison) and node.field == ("status",) and node.value in STATUS_INDEXES:
        return f"r.status {_operator(node)} '{node.value}'"  # the index's own words: see STATUS_INDEXES
    if isinstance(node, Comparison):
        params.append(collection.operand(node.field, node.value))
        return f"{'+' * (node.field in off)}{column(node.field)} {_operator(node)} ?"
    if isinstance(node, In):
        return _among(collection, node, params, off)
    if isinstance(node, Not):
        return f"NOT (({compile_filter(collection, node.item, params, off)}) IS TRUE)"
    joiner = " AND " if isinstance(node, And) else " OR "
    assert isinstance(node, And | Or)
    return "(" + joiner.join(compile_filter(collection, item, params, off) for item in node.items) + ")"


def _among(collection: Collection, node: In, params: list[Any], off: frozenset[tuple[str, ...]]) -> str:
    """The SQL condition of `f in (…)`. `f in (a, null)` is `f eq a or f eq null` (SQL's `IN (a, NULL)` is never
    false), but a record's own fields are never null: there the null is left out, and a single value left is the
    `eq` it is, as its index is read (`status in ('INACTIVE', null)` reads the inactive records' own). SQLite read
    the group's records for the OR, and for `status IN (…)`, which no partial index of a status serves."""
    known = [value for value in node.values if value is not None]
    own = node.field[0] in META_KINDS
    if len(known) == 1 and (own or None not in node.values):
        return compile_filter(collection, Comparison(node.field, "eq", known[0]), params, off)
    params.extend(collection.operand(node.field, value) for value in known)
    term = f"{'+' * (node.field in off)}{column(node.field)}"
    listed = f"{term} IN ({', '.join('?' * len(known))})"
    return f"({listed} OR {term} IS NULL)" if None in node.values and not own else listed


def _operator(node: Comparison) -> str:
    """The SQL operator of a comparison: `eq` a value of a declared field is `=`, which tells SQLite the field is not
    null, as the index of a reference field holds only records having one (`IS` read the group's records for
    `organization_id eq` an organization); the record's own columns keep `IS`, which their partial indexes are on
    (`status IS 'ARCHIVED'`). Both are false where the field is null, and a `not` makes either two-valued."""
    if node.op == "eq" and node.value is not None and node.field[0] not in META_KINDS:
        return "="
    return _OPS[node.op]


def by_hub_id(node: Node | None) -> bool:
    """Whether a filter picks its records by hub id: `id eq` a value or `id in (…)`, an `and` holding one, an `or` of
    them. Those records are no more than the ids it names, found by the hub id index."""
    if isinstance(node, Comparison):
        return node.field == ("id",) and node.op == "eq" and node.value is not None
    if isinstance(node, In):
        return node.field == ("id",)
    if isinstance(node, And | Or):
        found = [by_hub_id(item) for item in node.items]
        return any(found) if isinstance(node, And) else all(found)
    return False


@dataclass(frozen=True)
class Fewest:
    """How a page's filter is read where one part of it picks few records, by that part's index, SQLite planning
    without statistics of the data to read another (`sqlite_indexed.kept_off`): its conditions on the fields `off`
    kept off their indexes (a unary `+`), and its `or` `union`, if that is the part, read as the union of the records
    of its items, each by its own index (`union_of`; an `and` item by that of its equality of the fields `indexed`)."""

    off: frozenset[tuple[str, ...]] = frozenset()
    union: Or | None = None
    indexed: frozenset[tuple[str, ...]] = frozenset()


def compile_list(
    group_id: str, collection: Collection, query: ListQuery, fewest: Fewest | None = None
) -> tuple[str, list[Any]]:
    """The WHERE clause (with its parameters) of a page of live records, read as `fewest` says if given. Of one
    picked by hub id (`by_hub_id`) or by the union of an `or`'s items, the group and collection are kept off every
    index (a unary `+`), so that the records are looked up by their rowid: without statistics of the data, SQLite
    reckoned three ids or more dearer to look up than the group's records to read, and read those (`id in (…)` five
    ids: 280,309 steps of its machine at 10k records, 2,800,309 at 100k), and walked the group's records for the
    rowids of a union too."""
    params: list[Any] = [group_id, collection.name]
    union = None if fewest is None else fewest.union
    by_id = "+" * (by_hub_id(query.filter) or union is not None)
    where = [f"{by_id}r.group_id = ?", f"{by_id}r.collection = ?", "r.merged_into IS NULL"]
    if not query.include_archived:
        where.append("r.status != 'ARCHIVED'")
    if query.app is not None:
        exists = "EXISTS (SELECT 1 FROM external_ids e WHERE e.hub_id = r.hub_id AND e.provider = ? AND e.realm = ?)"
        where.append(exists if query.linked else f"NOT {exists}")
        params.extend(query.app)
    rest = query.filter
    if fewest is not None and union is not None:
        where.append(f"r.rowid IN ({union_of(group_id, collection, union, params, fewest.indexed)})")
        rest = _without(rest, union)
    if rest is not None:
        where.append(compile_filter(collection, rest, params, frozenset() if fewest is None else fewest.off))
    return " AND ".join(where), params


def union_of(group_id: str, collection: Collection, node: Or, params: list[Any], indexed: Set[tuple[str, ...]]) -> str:
    """A compound SELECT of the rowids of the live records matching each item of `node` (a record matching two, once
    each), each item with the terms its index is partial on, so that SQLite reads the item's index: of an SQL `OR`,
    its OR optimisation finds no partial index of a field serving an item, and read the group's records. An `and`
    item is read by the index of its equality (`equality_of` the fields `indexed`), the item as a whole kept off every
    index: SQLite took a range's index over an equality's, that of the equality's own field too (`first_name eq …
    and first_name gt …`)."""
    chosen = []
    for item in items_apart(node):
        params.extend([group_id, collection.name])
        equality = equality_of(item, indexed) if isinstance(item, And) else None
        found = "" if equality is None else f"{compile_filter(collection, equality, params)} AND "
        off = frozenset() if equality is None else frozenset(fields_of(item))
        chosen.append(
            "SELECT r.rowid AS found FROM records r WHERE r.group_id = ? AND r.collection = ? AND r.merged_into IS NULL"
            f" AND {found}{compile_filter(collection, item, params, off)}"
        )
    return " UNION ALL ".join(chosen)


def equality_of(node: And, indexed: Set[tuple[str, ...]]) -> Comparison | In | None:
    """The first item of `node` that is an equality of an `indexed` field (`eq` a value, `in` values): its index reads
    the records of `node` that hold that value, however the data grows around them."""
    for item in node.items:
        if isinstance(item, Comparison) and item.op == "eq" and item.value is not None and item.field in indexed:
            return item
        if isinstance(item, In) and None not in item.values and item.field in indexed:
            return item
    return None


def items_apart(node: Or) -> list[Node]:
    """The items of an `or`, an `in (…, null)` among them as its values and its null: of `f IN (…) OR f IS NULL` SQLite
    reads neither from the field's index, which holds both (a declared field's holds the records lacking it)."""
    items: list[Node] = []
    for item in node.items:
        if isinstance(item, In) and None in item.values:
            values = tuple(value for value in item.values if value is not None)
            items += [In(item.field, values)] if values else []
            items.append(Comparison(item.field, "eq", None))
        else:
            items.append(item)
    return items


def _without(node: Node | None, item: Node) -> Node | None:
    """`node` (the filter, or an `and`) without `item` (None if nothing is left: an `and` of `item` twice too)."""
    left = tuple(each for each in node.items if each != item) if isinstance(node, And) else ()
    return None if not left else left[0] if len(left) == 1 else And(left)


def compile_order(order: Order, codes_descend: bool, sorted_apart: bool = False) -> str:
    """The ORDER BY of records in `order`, ties broken by code (descending if `codes_descend`, as the page's whole
    order says: `order` may be a part of it); `sorted_apart`, of keys kept off every index (a unary `+`), so that
    SQLite finds the records by the filter's index and sorts them rather than walk an index in order."""
    keys = [f"{'+' * sorted_apart}{column(path)} {'DESC' if desc else 'ASC'}" for path, desc in order]
    return ", ".join([*keys, f"{'+' * sorted_apart}r.seq {'DESC' if codes_descend else 'ASC'}"])


def timed_index(query: LinkQuery) -> str:
    """The index holding a search's links in the order of their time: its app's in its entity type, where it names
    them, else the group's (whose other links a search by app or entity type would pass over)."""
    named = None not in (query.collection, query.provider, query.realm)
    return "external_ids_app_created" if named else "external_ids_created"


def compile_links(group_id: str, query: LinkQuery, since: str | None = None) -> tuple[str, str, list[Any]]:
    """The table (with the index to read it by, if it must be that one) and the WHERE clause (with its parameters)
    of a key link search; with `since`, of its links made then or later.

    The links of one app in one entity type (collection, provider and realm) come in link order from (group,
    collection, provider, realm), an entity type's from (group, collection), whatever else the group holds: any
    other search by them is several of those, merged (`sqlite_idmap.links`). Each names its index: the planner
    may otherwise read the app's links by the unique (…, ext_id) index or the held one (…, seq) and sort them.

    An external id's links, or a record's, are found by their own index, (group, external id) or (record, …).
    Left to itself the planner walked the group's links in link order, or counted them in a covering index, to
    find those few: 0.1-0.3 s each at 1M links, instead of 0.1 ms. So an external id names its index, and for a
    record the other columns are kept off every index but the record's (a unary `+`). A span of time is read
    from its time index (`timed_index`), from `since` on if it is given: the span's own start is then kept off the
    index, or the planner would start there and pass over every page before.
    """
    table = "external_ids"
    by_record = query.ext_id is None and query.hub_id is not None
    if query.ext_id is not None:
        table += " INDEXED BY external_ids_ext"
    elif query.kept and None not in (query.collection, query.provider, query.realm):
        table += " INDEXED BY external_ids_of_app"
    elif query.kept and query.collection is not None:
        table += " INDEXED BY external_ids_by_type"
    elif query.spanned and not by_record:
        table += f" INDEXED BY {timed_index(query)}"
    where: list[str] = []
    params: list[Any] = []
    for term, value in (
        ("group_id =", group_id),
        ("collection =", query.collection),
        ("hub_id =", query.hub_id),
        ("provider =", query.provider),
        ("realm =", query.realm),
        ("ext_id =", query.ext_id),
        ("created_at >=", since),
        ("created_at >", query.created_after),
        ("created_at <", query.created_before),
    ):
        if value is not None:
            off_index = (by_record and term != "hub_id =") or (since is not None and term == "created_at >")
            where.append(f"{'+' if off_index else ''}{term} ?")
            params.append(value)
    return table, " AND ".join(where), params
