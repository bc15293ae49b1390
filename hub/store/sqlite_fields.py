"""Indexes on declared fields (`hub.model.field_index`), kept in the database itself.

Each is `(group_id, <the field's expression>, seq)` over the live records of its entity type (a partial
index: `collection = '…' AND merged_into IS NULL`, the terms every page's WHERE holds). SQLite uses it
whenever a query's expression is the index's (`sqlite_query.declared`): an equality or range `$filter`
on the field, and an `$orderby` on it reads its page in order, ties in code order. The collection is a
bound parameter of every page, and SQLite still sees that the partial index serves it: it plans for the
value bound. At 1M records a page by `email/address eq …` (with its total) took 1.8 s and takes 0.09 ms,
by `in (…)` three addresses 2.0 s and 0.11 ms (`sqlite_pages._picked` says why that one needs a sort), ordered
by it 0.9-1.0 s and 0.7-0.8 ms; making the index took 2.6 s; each record of the entity type then costs a write
about 2-3 µs more.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from hub.model.collections import Collection
from hub.model.field_index import REFERENCE_FIELDS, FieldIndex, named
from hub.store.sqlite_query import RECORD_COLUMNS, declared

PREFIX = "records_field__"

REFERENCE_INDEXES = "".join(
    f"DROP INDEX IF EXISTS {PREFIX}{index.slug};\n"
    f"CREATE INDEX IF NOT EXISTS records_ref__{index.slug} ON records (group_id, {declared(index.path)}, seq)"
    f" WHERE collection = '{index.collection}' AND merged_into IS NULL AND {declared(index.path)} IS NOT NULL;\n"
    for index in REFERENCE_FIELDS
)
"""Every reference field is indexed as a field index is, always, but for the records without a reference (most
people have no organization: each would cost every write an index entry): ids leaving a record find the records
that refer to it (`referrers`), and a `$filter` comparing the field reads the index too. A field index of one, made
before, is dropped: the same keys kept twice."""


def referrers(conn: sqlite3.Connection, group_id: str, collection: str, field: str, hub_ids: list[str]) -> list[Any]:
    """The rows of the live records of `collection` whose reference `field` holds one of `hub_ids`, in code order
    (sorted here: asked to, SQLite walked the group's records in code order rather than sort what the index finds)."""
    rows = conn.execute(
        f"SELECT {RECORD_COLUMNS} FROM records WHERE group_id = ? AND {declared((field,))} IN"
        " (SELECT value FROM json_each(?)) AND collection = ? AND merged_into IS NULL",
        [group_id, orjson.dumps(hub_ids).decode(), collection],
    ).fetchall()
    return sorted(rows, key=lambda row: row[3])


def indexed_fields(collection: Collection, declared: list[FieldIndex]) -> set[tuple[str, ...]]:
    """The fields of `collection` a page's filter finds by an index: a record's own times and code, its references,
    and the declared fields indexed with `hub index add` (`declared`, as `field_indexes` reads them)."""
    indexes = [index for index in (*REFERENCE_FIELDS, *declared) if index.collection == collection.name]
    return {("updated_at",), ("created_at",), ("code",), *(index.path for index in indexes)}


def holds_nulls(collection: Collection, path: tuple[str, ...], declared: list[FieldIndex]) -> bool:
    """Whether the field has an index that holds the records lacking it too: one of `hub index add` (`declared`),
    not a reference's (`REFERENCE_INDEXES`)."""
    return FieldIndex(collection.name, path) in declared


def field_indexes(conn: sqlite3.Connection) -> list[FieldIndex]:
    """The field indexes the database keeps, by entity type and field."""
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'")
    return named((name for (name,) in names), PREFIX)


def add_field_index(conn: sqlite3.Connection, index: FieldIndex) -> bool:
    """Index the field's values of the live records of its entity type; False if it was indexed already."""
    if index in field_indexes(conn):
        return False
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {PREFIX}{index.slug} ON records (group_id, {declared(index.path)}, seq)"
        f" WHERE collection = '{index.collection}' AND merged_into IS NULL"
    )
    return True


def drop_field_index(conn: sqlite3.Connection, index: FieldIndex) -> bool:
    """Stop keeping the field's index; False if there was none."""
    if index not in field_indexes(conn):
        return False
    conn.execute(f"DROP INDEX IF EXISTS {PREFIX}{index.slug}")
    return True
