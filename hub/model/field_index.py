"""An index on one declared field of one entity type, which a store keeps only when it is asked to.

A `$filter` or `$orderby` on a field other than the record's times or code reads every record of the
group (at 1M records, a page by `email/address eq …` and its total took 1.8 s). An index on the field
makes it an index lookup, but every index costs each write of that entity type, so none is kept by
default: an operator adds those their apps ask by (`hub index add people email/address`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.errors import BadRequest
from hub.model.collections import COLLECTIONS, META_KINDS, REFERENCES


@dataclass(frozen=True)
class FieldIndex:
    """An entity type and the path of one of its declared fields (`("email", "address")`)."""

    collection: str
    path: tuple[str, ...]

    @property
    def reference(self) -> bool:
        """Whether the field is a reference, which every store indexes always (its index has the same keys)."""
        return self in REFERENCE_FIELDS

    @property
    def slug(self) -> str:
        """The name a store gives the index, after its own prefix: `people__email__address`."""
        return "__".join((self.collection, *self.path))

    def __str__(self) -> str:
        return f"{self.collection} {'/'.join(self.path)}"


REFERENCE_FIELDS = [FieldIndex(collection, (name,)) for collection, name, _ in REFERENCES]
"""The reference fields, each of which every store indexes always, under a name of its own (`records_ref__<slug>`,
`ref__<slug>`): the records referring to a record are looked up by it."""


def field_index(collection: str, field: str) -> FieldIndex:
    """The index of `field` (as a `$filter` names it: `email/address`) in `collection`; BadRequest naming what is
    wrong unless it is a declared field holding one value."""
    if collection not in COLLECTIONS:
        raise BadRequest(f"unknown entity type {collection!r}: use one of {', '.join(sorted(COLLECTIONS))}")
    path = tuple(field.split("/"))
    if path[0] in META_KINDS:
        raise BadRequest(
            f"{field!r} is a field every record has, not a declared one: only declared fields take an index"
        )
    if path not in COLLECTIONS[collection].kinds:
        raise BadRequest(f"{collection} has no field {field!r} holding one value (name one as $filter does)")
    return FieldIndex(collection, path)


def from_slug(slug: str) -> FieldIndex | None:
    """The field index a store named `slug`, if it names a declared field still."""
    collection, *path = slug.split("__")
    known = collection in COLLECTIONS and tuple(path) in COLLECTIONS[collection].kinds
    return FieldIndex(collection, tuple(path)) if known and path else None


def named(names: Iterable[str], prefix: str) -> list[FieldIndex]:
    """The field indexes among a store's index names (each `prefix` and a slug), by entity type and field."""
    found = (from_slug(name.removeprefix(prefix)) for name in names if name.startswith(prefix))
    return sorted((index for index in found if index is not None), key=str)
