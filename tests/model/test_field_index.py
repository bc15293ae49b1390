"""Which fields take an index, and the names stores give them."""

from __future__ import annotations

import pytest

from hub.errors import BadRequest
from hub.model.field_index import FieldIndex, field_index, from_slug


def test_a_declared_field_holding_one_value_takes_an_index_named_after_it() -> None:
    index = field_index("people", "email/address")
    assert index == FieldIndex("people", ("email", "address"))
    assert (index.slug, str(index)) == ("people__email__address", "people email/address")
    assert from_slug(index.slug) == index


@pytest.mark.parametrize(
    ("collection", "field", "message"),
    [
        ("widgets", "name", "unknown entity type 'widgets'"),
        ("people", "code", "a field every record has"),
        ("people", "updated_at", "a field every record has"),
        ("people", "email", "people has no field 'email' holding one value"),
        ("people", "email/nope", "people has no field 'email/nope'"),
        ("organizations", "last_name", "organizations has no field 'last_name'"),
    ],
)
def test_any_other_field_is_refused_naming_why(collection: str, field: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        field_index(collection, field)


@pytest.mark.parametrize("slug", ["people__gone", "widgets__name", "people", "people__email"])
def test_a_name_of_no_declared_field_is_no_field_index(slug: str) -> None:
    assert from_slug(slug) is None
