"""Checks key link ids, the stable numbers of systems and entity types, and the key link search parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import BadRequest
from hub.model.ids import ExternalId
from hub.model.key_link import entity_type, link_id, parse_link_id, parse_search, stable_id

part = st.text(st.sampled_from('a\x1e\x1f["') | st.characters(codec="utf-8"), min_size=1, max_size=40)
"""Any text, the separator of a link id's parts (U+001F) and what marks one written as a JSON array often in it."""


@given(st.sampled_from(["people", "organizations"]), part, part, part)
def test_a_link_id_names_its_entity_type_and_external_id(collection: str, provider: str, realm: str, id: str) -> None:
    ext = ExternalId(provider, realm, id)
    text = link_id(collection, ext)
    assert parse_link_id(text) == (collection, ext)
    assert text.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("text", ["", "x", "!!!", "YmlsbHMfYR9iH2M", "cGVvcGxlHx8fHw", "//", "\u00e9"])
def test_other_text_names_no_link(text: str) -> None:
    assert parse_link_id(text) is None


@given(st.sampled_from(["people", "organizations"]), part, part, part, st.sampled_from(["!!", "==", "=", "\n", "."]))
def test_only_a_link_id_as_written_names_its_link(
    collection: str, provider: str, realm: str, id: str, extra: str
) -> None:
    """base64 passes over stray characters and padding: `…!!` and `…==` named the link of `…`."""
    text = link_id(collection, ExternalId(provider, realm, id))
    assert parse_link_id(text + extra) is None and parse_link_id(extra + text) is None


def test_stable_ids_are_fixed_small_positive_numbers() -> None:
    assert stable_id("salesforce") == 509996168
    assert stable_id("organizations") == 2085827284
    assert all(0 < stable_id(name) < 2**31 for name in ("a", "b", "connec", "people"))


def test_entity_types_match_in_any_case() -> None:
    assert entity_type(" PEOPLE ") == "people"
    assert entity_type("customer") is None


def test_search_parameters() -> None:
    search = parse_search({"entity_type": "People", "external_id": "x", "$top": "5"}, 100, 1000)
    assert (search.query.collection, search.query.ext_id, search.query.top) == ("people", "x", 5)
    assert not search.matches_nothing
    assert parse_search({"entity_type": "bills"}, 100, 1000).matches_nothing
    mismatch = {"entity_type": "people", "integration_entity_type_id": str(stable_id("organizations"))}
    assert parse_search(mismatch, 100, 1000).matches_nothing
    assert parse_search({"created_after": "2020-01-01"}, 100, 1000).query.created_after == "2020-01-01T00:00:00.000000Z"
    for bad in ({"integration_system_id": "x"}, {"$top": "5000"}, {"realm": ""}, {"what": "1"}):
        with pytest.raises(BadRequest):
            parse_search(bad, 100, 1000)
