"""The pure merge rules: who survives, which field values win, and the one-id-per-app guard."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import Conflict
from hub.model.ids import ExternalId, app_clashes
from hub.model.merge import merge_fields, merged_ids, survivor_first
from hub.model.record import Record


def record(n: int, created: str, updated: str, ids: list[ExternalId] | None = None, **fields: Any) -> Record:
    return Record(f"h{n}", "g", "people", n, "ACTIVE", created, updated, fields, ids or [])


def test_the_oldest_survives_and_the_others_follow_newest_first() -> None:
    a = record(1, "2020", "2020")
    b = record(2, "2021", "2024")
    c = record(3, "2019", "2022")
    d = record(4, "2022", "2023")
    assert [r.hub_id for r in survivor_first([a, b, c, d])] == ["h3", "h2", "h4", "h1"]


def test_field_values_request_then_survivor_then_newest_other() -> None:
    survivor = record(1, "1", "1", first_name="Ada", notes="", job_title=None)
    newest = record(2, "2", "9", first_name="Augusta", notes="newest", last_name="King")
    older = record(3, "3", "5", notes="older", last_name="Byron", title="Countess")
    merged = merge_fields([survivor, newest, older], {"title": "Lady", "phone": None})
    assert merged == {"first_name": "Ada", "notes": "newest", "last_name": "King", "title": "Lady"}


def test_merged_ids_refuse_two_ids_of_one_app() -> None:
    a = record(1, "1", "1", [ExternalId("crm", "1", "a")])
    b = record(2, "2", "2", [ExternalId("crm", "1", "b"), ExternalId("erp", "1", "x")])
    with pytest.raises(Conflict) as refused:
        merged_ids([a, b], [])
    assert refused.value.extra["records"] == ["h1", "h2"]
    c = record(3, "3", "3", [ExternalId("crm", "2", "a")])
    assert merged_ids([a, c], [ExternalId("erp", "1", "x")]) == [*a.ids, *c.ids, ExternalId("erp", "1", "x")]


ids = st.builds(ExternalId, st.sampled_from(["crm", "erp"]), st.sampled_from(["1", "2"]), st.sampled_from("abc"))


@given(st.lists(ids, max_size=8))
def test_app_clashes_finds_exactly_the_apps_with_two_distinct_ids(given_ids: list[ExternalId]) -> None:
    clashes = app_clashes(given_ids)
    for ext in given_ids:
        distinct = {e.id for e in given_ids if e.app == ext.app}
        assert (ext.app in clashes) == (len(distinct) > 1)


@given(
    st.lists(st.dictionaries(st.sampled_from("abcd"), st.sampled_from(["", "x", "y", None])), min_size=1, max_size=4)
)
def test_each_field_takes_the_first_non_empty_value_in_merge_order(field_sets: list[dict[str, Any]]) -> None:
    ordered = survivor_first([record(n, str(n), str(9 - n), **fields) for n, fields in enumerate(field_sets)])
    merged = merge_fields(ordered, {})
    for key in "abcd":
        first = next((r.fields[key] for r in ordered if r.fields.get(key)), None)
        assert merged.get(key) == first
