"""How a page's query is read: the complement of its filter, when a filter as simple as its own finds the records it
leaves out, and the conditions on the status that say no more than that a record is listed, or that it may have any
status."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.model.collections import COLLECTIONS
from hub.model.filter import fields_of
from hub.model.list_query import ListQuery
from hub.model.query import parse_list

PEOPLE = COLLECTIONS["people"]


def query(params: dict[str, str]) -> ListQuery:
    return parse_list(PEOPLE, params, 100, 1000)[0]


@pytest.mark.parametrize(
    ("expression", "complement"),
    [
        ("updated_at gt '2020-01-01T00:00:00Z'", "updated_at le '2020-01-01T00:00:00Z'"),
        ("updated_at ge 2020-01-01", "updated_at lt 2020-01-01"),
        ("created_at lt 2020-01-01", "created_at ge 2020-01-01"),
        ("code le 'PE10'", "code gt 'PE10'"),
        ("id gt 'x'", "id le 'x'"),
    ],
)
@pytest.mark.parametrize("app", [{}, {"opts[provider]": "sf", "opts[realm]": "1", "opts[linked]": "false"}], ids=str)
def test_an_order_comparison_of_a_field_every_record_has_has_one(
    expression: str, complement: str, app: dict[str, str]
) -> None:
    page = query({"$filter": expression, "$top": "7", "$skiptoken": "5.9", **app})
    assert page.complement() == query({"$filter": complement, "$top": "7", "$skiptoken": "5.9", **app})


@pytest.mark.parametrize(
    "params",
    [
        {"$filter": "updated_at eq '2020-01-01T00:00:00Z'"},  # ne would also match a missing value elsewhere
        {"$filter": "last_name gt 'A'"},  # a record may lack it: neither side holds
        {"$filter": "code in ('PE1', 'PE2')"},
        {"$filter": "updated_at gt 2020-01-01 and code gt 'PE1'"},
        {"$filter": "not (updated_at gt 2020-01-01)"},
        {"$filter": "status gt 'ACTIVE'"},  # archived records are listed then, which the kept count leaves out
        {"$filter": "status ne 'ACTIVE'"},
        {"$filter": "status eq 'ARCHIVED'"},
        {"$filter": "status eq 'ACTIVE'"},  # its total is kept (`statuses`), an app's too
        {},
    ],
    ids=str,
)
def test_any_other_query_has_none(params: dict[str, str]) -> None:
    assert query(params).complement() is None


@pytest.mark.parametrize(
    ("expression", "left"),
    [
        ("status ne 'ARCHIVED'", ""),
        ("status in ('ACTIVE', 'INACTIVE')", ""),
        ("status eq 'ACTIVE' or status eq 'INACTIVE' or status eq null", ""),
        ("not (status in ('ARCHIVED', null)) and code gt 1", "code gt 1"),
        ("status ne 'ARCHIVED' and code gt 1 and status ne null and code lt 9", "code gt 1 and code lt 9"),
    ],
)
def test_the_conditions_that_a_record_is_listed_are_left_out_of_its_filter(expression: str, left: str) -> None:
    page = query({"$filter": expression})
    assert page == query({"$filter": left}) and not page.include_archived


@pytest.mark.parametrize(
    "expression",
    [
        "status ne 'ARCHIVED' and status ne 'INACTIVE'",
        "status ne 'ARCHIVED' and (status eq 'ACTIVE' or code gt 1)",  # the status is named elsewhere too
        "status ne 'ARCHIVED' or code gt 1",
        "status gt 'ACTIVE'",
    ],
)
def test_other_conditions_on_the_status_are_kept(expression: str) -> None:
    page = query({"$filter": expression})
    assert page.filter is not None and ("status",) in fields_of(page.filter) and page.include_archived


@pytest.mark.parametrize(
    ("expression", "left"),
    [
        ("status ne null", ""),
        ("status in ('ACTIVE', 'INACTIVE', 'ARCHIVED')", ""),
        ("status eq 'ACTIVE' or status eq 'INACTIVE' or status eq 'ARCHIVED'", ""),
        ("not (status eq null) and code gt 1", "code gt 1"),
    ],
)
def test_the_conditions_that_a_record_may_have_any_status_are_left_out_of_its_filter(
    expression: str, left: str
) -> None:
    """Archived records are listed then, as the filter names the status."""
    page = query({"$filter": expression})
    assert page == replace(query({"$filter": left}), include_archived=True)


@pytest.mark.parametrize(
    ("expression", "read"),
    [
        ("status ne 'ACTIVE'", "status in ('INACTIVE', 'ARCHIVED')"),
        ("not (status eq 'ACTIVE')", "status in ('INACTIVE', 'ARCHIVED')"),
        ("status eq 'ARCHIVED' or status eq 'INACTIVE'", "status in ('INACTIVE', 'ARCHIVED')"),
        ("status in ('ARCHIVED', null, 'INACTIVE')", "status in ('INACTIVE', 'ARCHIVED')"),
        ("status ne 'ACTIVE' and status ne 'ARCHIVED'", "status eq 'INACTIVE'"),
        ("status ne 'INACTIVE' and code gt 1", "code gt 1 and status in ('ACTIVE', 'ARCHIVED')"),
    ],
)
def test_the_conditions_on_the_status_are_read_as_the_statuses_they_admit(expression: str, read: str) -> None:
    assert query({"$filter": expression}) == query({"$filter": read})


def test_a_filter_of_several_statuses_is_the_union_of_a_query_of_each() -> None:
    page = query({"$filter": "status ne 'ACTIVE'", "$top": "7", "$skiptoken": "5.9"})
    each = [query({"$filter": f"status eq '{s}'", "$top": "7", "$skiptoken": "5.9"}) for s in ("INACTIVE", "ARCHIVED")]
    assert page.by_status() == tuple(each)
    assert query({"$filter": "status eq 'INACTIVE'"}).by_status() == ()
    beside = [query({"$filter": f"code gt 1 and status eq '{s}'"}) for s in ("INACTIVE", "ARCHIVED")]
    assert query({"$filter": "status ne 'ACTIVE' and code gt 1"}).by_status() == tuple(beside)
    assert query({"$filter": "status ne 'ACTIVE' or code gt 1"}).by_status() == ()


APP = {"opts[provider]": "sf", "opts[realm]": "r1"}


@pytest.mark.parametrize(
    ("expression", "statuses", "total"),
    [
        ("status eq 'INACTIVE'", ("INACTIVE",), 10),
        ("status eq 'ACTIVE'", ("ACTIVE",), 90),
        ("status ne 'ACTIVE'", ("INACTIVE", "ARCHIVED"), 13),
        ("status eq 'ACTIVE' or status eq 'ARCHIVED'", ("ACTIVE", "ARCHIVED"), 93),
        ("status ne null", ("ACTIVE", "INACTIVE", "ARCHIVED"), 103),
        ("status in ('ACTIVE', 'INACTIVE')", None, None),
        ("status eq null", None, None),
        ("status ne 'ACTIVE' and code gt 1", None, None),
        ("code gt 1", None, None),
    ],
)
def test_a_filter_on_the_status_alone_is_totalled_from_the_count_of_each_status(
    expression: str, statuses: tuple[str, ...] | None, total: int | None
) -> None:
    """Of 100 records listed, 10 inactive, and 3 archived; of those an app holds, 40 listed, 4 inactive and 1 archived.
    A plain list (`kept`) is counted otherwise."""
    every, held = (100, {"INACTIVE": 10, "ARCHIVED": 3}), (40, {"INACTIVE": 4, "ARCHIVED": 1})
    page = query({"$filter": expression, "$skiptoken": "5.9"})
    assert page.statuses == statuses
    assert (page.total_by_status(every, (0, {})) if statuses else None) == total
    linked, lacked = (query({"$filter": expression, **APP, "opts[linked]": side}) for side in ("true", "false"))
    assert linked.statuses == lacked.statuses == statuses
    if statuses and total is not None:
        assert linked.total_by_status(every, held) + lacked.total_by_status(every, held) == total
        assert linked.total_by_status(every, held) == {10: 4, 90: 36, 13: 5, 93: 37, 103: 41}[total]
