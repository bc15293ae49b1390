"""$filter parsing: the AST it builds, and Invalid (never a crash) for bad input."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import Invalid
from hub.model.filter import (
    MAX_DEPTH,
    And,
    Comparison,
    In,
    Not,
    Or,
    Value,
    fields_of,
    joined,
    map_values,
    parse_filter,
)


def cmp(field: str, op: str, value: Value) -> Comparison:
    return Comparison(tuple(field.split("/")), op, value)


A, B, C = cmp("a", "eq", 1), cmp("b", "eq", 2), cmp("c", "eq", 3)


def invalid(text: str, **limits: int) -> str:
    with pytest.raises(Invalid) as caught:
        parse_filter(text, **limits)
    return caught.value.detail


# --- operators and keywords ---------------------------------------------------


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "ge", "lt", "le"])
def test_each_operator(op: str) -> None:
    assert parse_filter(f"a {op} 1") == cmp("a", op, 1)


@pytest.mark.parametrize(("alias", "op"), [("gte", "ge"), ("lte", "le"), ("GTE", "ge")])
def test_aliases_are_normalised(alias: str, op: str) -> None:
    assert parse_filter(f"a {alias} 1") == cmp("a", op, 1)


def test_keywords_are_case_insensitive_but_fields_keep_case() -> None:
    assert parse_filter("Name EQ 1 AND b Eq 2 Or NOT c eq 3") == Or((And((cmp("Name", "eq", 1), B)), Not(C)))


def test_whitespace_is_insignificant() -> None:
    assert parse_filter("  (a\teq\n1)and(b eq 2)  ") == And((A, B))
    assert parse_filter("a eq 'x'and b eq 2") == And((cmp("a", "eq", "x"), B))


# --- structure ----------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    assert parse_filter("a eq 1 or b eq 2 and c eq 3") == Or((A, And((B, C))))
    assert parse_filter("a eq 1 and b eq 2 or c eq 3") == Or((And((A, B)), C))


def test_parentheses_override_precedence() -> None:
    assert parse_filter("(a eq 1 or b eq 2) and c eq 3") == And((Or((A, B)), C))
    assert parse_filter("((a eq 1))") == A


def test_and_or_are_flattened() -> None:
    assert parse_filter("a eq 1 and b eq 2 and c eq 3") == And((A, B, C))
    assert parse_filter("a eq 1 or b eq 2 or c eq 3") == Or((A, B, C))
    assert parse_filter("(a eq 1 and b eq 2) and c eq 3") == And((A, B, C))
    assert parse_filter("a eq 1 or (b eq 2 or c eq 3)") == Or((A, B, C))


def test_not() -> None:
    assert parse_filter("not a eq 1") == Not(A)
    assert parse_filter("not not a eq 1") == Not(Not(A))
    assert parse_filter("not (a eq 1 or b eq 2)") == Not(Or((A, B)))
    assert parse_filter("not a eq 1 and b eq 2") == And((Not(A), B))


def test_in_list() -> None:
    assert parse_filter("status in ('new', 'done')") == In(("status",), ("new", "done"))
    assert parse_filter("a IN (1)") == In(("a",), (1,))
    assert parse_filter("a in (1, 'x', true, null, 2.5)") == In(("a",), (1, "x", True, None, 2.5))
    assert parse_filter("a in (1) and b eq 2") == And((In(("a",), (1,)), B))


def test_nested_fields() -> None:
    assert parse_filter("email/address eq 'x'") == Comparison(("email", "address"), "eq", "x")
    assert parse_filter("a/b_2/C in (1)") == In(("a", "b_2", "C"), (1,))
    assert parse_filter("updated_at gt 1") == Comparison(("updated_at",), "gt", 1)


def test_nodes_are_frozen_and_hashable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        A.value = 2  # type: ignore[misc]
    assert len({parse_filter("a eq 1"), parse_filter("a  eq  1")}) == 1


# --- literals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'O''Brien'", "O'Brien"),
        ("''", ""),
        ("''''", "'"),
        ("'a and b or (c)'", "a and b or (c)"),
        ("'Zürich ✓'", "Zürich ✓"),
    ],
)
def test_strings(literal: str, value: str) -> None:
    assert parse_filter(f"a eq {literal}") == cmp("a", "eq", value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [("0", 0), ("42", 42), ("-3", -3), ("+4", 4), ("2.5", 2.5), ("-0.25", -0.25)],
)
def test_numbers(literal: str, value: float) -> None:
    node = parse_filter(f"a gt {literal}")
    assert isinstance(node, Comparison)
    assert node.value == value
    assert type(node.value) is type(value)


@pytest.mark.parametrize(("literal", "value"), [("true", True), ("false", False), ("TRUE", True)])
def test_booleans(literal: str, value: bool) -> None:
    assert parse_filter(f"a eq {literal}") == cmp("a", "eq", value)


def test_null_with_eq_and_ne() -> None:
    assert parse_filter("a eq null") == cmp("a", "eq", None)
    assert parse_filter("a ne NULL") == cmp("a", "ne", None)


@pytest.mark.parametrize(
    "date",
    [
        "2016-10-04T00:00:00Z",
        "2016-10-04",
        "2016-10-04T10:20",
        "2016-10-04T10:20:30.123+02:00",
        "2026-01-05T10:00Z",  # README's bare forms
        "2026-01-05T10:00:00.5+01:00",
    ],
)
def test_dates_quoted_and_unquoted_are_strings(date: str) -> None:
    assert parse_filter(f"updated_at ge '{date}'") == cmp("updated_at", "ge", date)
    assert parse_filter(f"updated_at ge {date}") == cmp("updated_at", "ge", date)


@pytest.mark.parametrize("date", ["2026-01-05 10:00z", "2026-01-05t10:00Z", "2026-01-05T10:00:00+0100"])
def test_other_iso_8601_forms_go_quoted(date: str) -> None:
    """As README says: bare, they are no date of OData's form, and a 400 naming where."""
    assert parse_filter(f"updated_at ge '{date}'") == cmp("updated_at", "ge", date)
    with pytest.raises(Invalid, match="at position"):
        parse_filter(f"updated_at ge {date}")


# --- errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem", "position"),
    [
        ("", "empty expression", 0),
        ("   ", "empty expression", 0),
        ("a foo 1", "unknown operator 'foo'", 2),
        ("startswith(name, 'M')", "no function 'startswith': compare a field with eq, ne, gt, ge, lt, le or in", 0),
        ("a eq 1 or contains(a, 'x')", "no function 'contains'", 10),
        ("a = 1", "unexpected character '='", 2),
        ("a eq 'abc", "unterminated string", 5),
        ("a eq 'it''s", "unterminated string", 5),
        ("(a eq 1", "unbalanced parentheses: missing ')'", 7),
        ("a eq 1)", "unbalanced parentheses: unexpected ')'", 6),
        ("(a eq 1 b eq 2)", "expected ')', found 'b'", 8),
        ("a eq 1 foo", "unexpected 'foo'", 7),
        ("a eq", "expected a value after 'eq', found end of input", 4),
        ("a eq and b eq 1", "expected a value after 'eq', found 'and'", 5),
        ("a eq b", "expected a value after 'eq', found 'b'", 5),
        ("a in ( )", "empty 'in' list", 7),
        ("a in 1", "expected '(' after 'in'", 5),
        ("a in (1,", "expected a value after ','", 8),
        ("a in (1 2)", "expected ',' or ')' in 'in' list, found '2'", 8),
        ("a in (1", "unbalanced parentheses: missing ')' in 'in' list", 7),
        ("a gt null", "null can only be compared with eq or ne, not 'gt'", 5),
        ("a eq 1 and", "expected a condition, found end of input", 10),
        ("a", "missing operator after 'a'", 1),
        ("and eq 1", "expected a field name, found 'and'", 0),
        ("'x' eq 1", "expected a field name, found 'x'", 0),
        ("()", "expected a field name, found ')'", 1),
        ("a/ eq 1", "unexpected character '/'", 1),
    ],
)
def test_errors_name_problem_and_position(text: str, problem: str, position: int) -> None:
    detail = invalid(text)
    assert detail.startswith("$filter")
    assert problem in detail
    assert detail.endswith(f"at position {position}")


def test_invalid_is_a_422() -> None:
    with pytest.raises(Invalid) as caught:
        parse_filter("")
    assert caught.value.status == 422


def test_long_tokens_are_truncated_in_messages() -> None:
    detail = invalid("a eq 1 " + "x" * 500)
    assert "unexpected '" + "x" * 40 + "…'" in detail
    assert len(detail) < 100


def test_max_length() -> None:
    assert parse_filter("a eq 1", max_length=6) == A
    assert invalid("a eq 10", max_length=6) == ("$filter is too long: more than 6 characters at position 6")
    assert "too long: more than 2000 characters" in invalid("a eq '" + "x" * 2000 + "'")


def test_max_nodes() -> None:
    fifty = " or ".join(f"a eq {i}" for i in range(50))
    assert isinstance(parse_filter(fifty), Or)
    detail = invalid(fifty + " or b in (1, 2)")
    assert detail.startswith("$filter is too complex: more than 50 conditions")
    assert detail.endswith(f"at position {len(fifty) + 4}")
    assert "more than 2 conditions" in invalid("a eq 1 and b eq 2 and c eq 3", max_nodes=2)


def test_nesting_depth_is_bounded() -> None:
    ok = "(" * MAX_DEPTH + "a eq 1" + ")" * MAX_DEPTH
    assert parse_filter(ok) == A
    assert "nesting deeper than" in invalid("(" + ok + ")")
    assert "nesting deeper than" in invalid("not " * (MAX_DEPTH + 1) + "a eq 1")


@pytest.mark.parametrize("text", ["(" * 10_000, "not " * 10_000 + "a eq 1", "(not " * 5_000])
def test_deep_nesting_is_invalid_not_recursion_error(text: str) -> None:
    assert "nesting deeper than" in invalid(text, max_length=100_000)


def test_huge_number_is_invalid() -> None:
    assert "number is too long" in invalid("a eq " + "9" * 5000, max_length=100_000)


def test_a_number_may_have_an_exponent_as_odata_writes_a_double() -> None:
    """`1.5e6` was read as the number 1.5 and a word `e6`: "unexpected 'e6'"."""
    assert [parse_filter(f"a gt {text}") for text in ("1.5e6", "2E3", "-4e-2")] == [
        Comparison(("a",), "gt", 1_500_000.0),
        Comparison(("a",), "gt", 2000.0),
        Comparison(("a",), "gt", -0.04),
    ]
    assert "out of range: within 64 bits" in invalid("a gt 1e20")


# --- helpers ------------------------------------------------------------------


def test_fields_of() -> None:
    node = parse_filter("a eq 1 and (email/address in ('x') or not a gt 2) or b/c eq null")
    assert fields_of(node) == {("a",), ("email", "address"), ("b", "c")}
    assert fields_of(A) == {("a",)}


def test_map_values() -> None:
    node = parse_filter("name eq 'bob' and not (n in (1, 2) or name ne 'x')")
    seen: list[tuple[tuple[str, ...], Value]] = []

    def upper(field: tuple[str, ...], value: Value) -> Value:
        seen.append((field, value))
        return value.upper() if isinstance(value, str) else value

    mapped = map_values(node, upper)
    assert mapped == And(
        (
            cmp("name", "eq", "BOB"),
            Not(Or((In(("n",), (1, 2)), cmp("name", "ne", "X")))),
        )
    )
    assert seen == [(("name",), "bob"), (("n",), 1), (("n",), 2), (("name",), "x")]
    assert node == parse_filter("name eq 'bob' and not (n in (1, 2) or name ne 'x')")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a eq 1 or a eq 2", "a in (1, 2)"),
        ("a eq 1 or b eq 2 or a in (3, null) or a gt 4", "a in (1, 3, null) or b eq 2 or a gt 4"),
        ("not (a eq 1 or a eq null) and (b in (1) or b eq 2)", "not (a in (1, null)) and b in (1, 2)"),
        ("a eq 1 or a ne 2 or b eq 3", "a eq 1 or a ne 2 or b eq 3"),
        ("(a eq 1 and b eq 2) or a eq 3", "(a eq 1 and b eq 2) or a eq 3"),
    ],
)
def test_joined_makes_one_in_of_the_or_ed_equalities_of_a_field(text: str, expected: str) -> None:
    assert joined(parse_filter(text)) == parse_filter(expected)


# --- robustness ---------------------------------------------------------------


def parse_or_invalid(text: str) -> None:
    try:
        node = parse_filter(text)
    except Invalid as error:
        assert error.detail.startswith("$filter")
        assert "position" in error.detail
    else:
        assert isinstance(node, Comparison | In | And | Or | Not)
        assert fields_of(node)


@settings(max_examples=500)
@given(st.text())
def test_any_text_parses_or_is_invalid(text: str) -> None:
    parse_or_invalid(text)


_PIECES = "a b/c eq gt lte in and or not ( ) , null true 1 -2.5 'x' ' '' 2016-10-04 / #"


@settings(max_examples=500)
@given(st.lists(st.sampled_from(_PIECES.split()), max_size=30))
def test_token_soup_parses_or_is_invalid(pieces: list[str]) -> None:
    parse_or_invalid(" ".join(pieces))
    parse_or_invalid("".join(pieces))
