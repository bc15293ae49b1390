"""Indexes on declared fields (`hub.model.field_index`) in MongoDB: `(group, fields.<path>, seq)` over the
records of its entity type (a partial index on `collection`, which every page's filter names), so a
`$filter` on the field, or an `$orderby` on it, can read that index; named `field__<slug>`, so the store
finds them again in the collection's own list of indexes."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from hub.model.field_index import FieldIndex, named
from hub.store.mongo_query import field

PREFIX = "field__"


async def field_indexes(db: AsyncDatabase[Any]) -> list[FieldIndex]:
    """The field indexes the records collection has, by entity type and field."""
    return named(await db["records"].index_information(), PREFIX)


async def add_field_index(db: AsyncDatabase[Any], index: FieldIndex) -> bool:
    """Index the field in the records of its entity type; False if it was indexed already."""
    if index in await field_indexes(db):
        return False
    await db["records"].create_index(
        [("group", 1), (field(index.path), 1), ("seq", 1)],
        name=PREFIX + index.slug,
        partialFilterExpression={"collection": index.collection},
    )
    return True


async def drop_field_index(db: AsyncDatabase[Any], index: FieldIndex) -> bool:
    """Stop keeping the field's index; False if there was none."""
    if index not in await field_indexes(db):
        return False
    await db["records"].drop_index(PREFIX + index.slug)
    return True
