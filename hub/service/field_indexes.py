"""Indexes on declared fields: added and dropped by an operator (`hub index …`), used by every page after."""

from __future__ import annotations

from collections.abc import Sequence

from hub.errors import BadRequest, NotFound
from hub.model.field_index import REFERENCE_FIELDS, FieldIndex
from hub.store.base import Store


async def list_indexes(store: Store) -> Sequence[FieldIndex]:
    """The fields indexed, by entity type and field: the reference fields (indexed always) among those added."""
    return sorted([*REFERENCE_FIELDS, *await store.field_indexes()], key=lambda index: (index.collection, index.path))


async def indexed(store: Store, index: FieldIndex) -> bool:
    """Whether the field is indexed: added already, or a reference field (indexed always)."""
    return index.reference or index in await store.field_indexes()


async def add_index(store: Store, index: FieldIndex) -> bool:
    """Index the field; False if it was indexed already (nothing changes), as a reference field is always."""
    return not index.reference and await store.add_field_index(index)


async def drop_index(store: Store, index: FieldIndex) -> None:
    """Drop the field's index; NotFound if it has none, BadRequest for a reference field, whose index every store
    keeps always (said to have none, an operator was told its filters read the group's records)."""
    if index.reference:
        raise BadRequest(f"{index} is a reference, indexed always: its index is not one to drop")
    if not await store.drop_field_index(index):
        raise NotFound(f"{index} has no index")
