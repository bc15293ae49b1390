"""Parse OData-style ``$filter`` expressions into a small immutable AST.

The parser is pure so that every malformed filter is rejected here, with a
message naming the problem and its position, before any query is built.
Positions are 0-based character offsets into the expression text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

from hub.errors import Invalid

Value = str | int | float | bool | None

# Every accepted operator spelling, mapped to its canonical form.
_CANONICAL = ("eq", "ne", "gt", "ge", "lt", "le")
OPERATORS = {**{op: op for op in _CANONICAL}, "gte": "ge", "lte": "le"}
# Parentheses and 'not' may nest this deep; keeps recursion far below Python's limit.
MAX_DEPTH = 32
# The most conditions and characters a filter ($filter, an integration's filter) may hold.
MAX_CONDITIONS = 50
MAX_FILTER = 2000

_LITERAL_WORDS: dict[str, Value] = {"true": True, "false": False, "null": None}
_KEYWORDS = frozenset({"and", "or", "not", "in", *_LITERAL_WORDS, *OPERATORS})
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(
    rf"""
    (?P<space>\s+)
    |(?P<string>'(?:[^']|'')*+')
    |(?P<date>[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}
        (?:T[0-9]{{2}}:[0-9]{{2}}(?::[0-9]{{2}}(?:\.[0-9]+)?)?
        (?:Z|[+-][0-9]{{2}}:[0-9]{{2}})?)?)
    |(?P<number>[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    |(?P<word>{_IDENT}(?:/{_IDENT})*)
    |(?P<punct>[(),])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Comparison:
    """``field op value``; op is always canonical, never an alias."""

    field: tuple[str, ...]
    op: str
    value: Value


@dataclass(frozen=True)
class In:
    """``field in (v1, v2, ...)`` with at least one value."""

    field: tuple[str, ...]
    values: tuple[Value, ...]


@dataclass(frozen=True)
class And:
    """At least two items. The parser flattens those that are Ands, grouped in parentheses or not (`_combine`);
    an And built elsewhere may hold one (`keyset.after`)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least two items, flattened like ``And``."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Comparison | In | And | Or | Not


class _Token(NamedTuple):
    kind: str  # a group name of _TOKEN, or "end" for the sentinel after the text
    text: str
    pos: int

    def shown(self) -> str:
        """The token for a message as it was written, a quoted string in its own quotes (not `''x''`)."""
        if self.kind == "end":
            return "end of input"
        return _cut(self.text) if self.kind == "string" else f"'{_cut(self.text)}'"


def _cut(text: str) -> str:
    """Cut to 40 characters, as a problem quotes what a client sent, so a huge literal does not come back whole."""
    return f"{text[:40]}{'…' * (len(text) > 40)}"


def written(value: Value) -> str:
    """A value as a filter writes it, for a message: `true`, `null`, `'it''s'`, not as Python does (`True`)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return _cut("'" + value.replace("'", "''") + "'" if isinstance(value, str) else str(value))


def _error(problem: str, pos: int) -> Invalid:
    return Invalid(f"$filter: {problem} at position {pos}")


def _tokenize(text: str) -> list[_Token]:
    """Split into tokens, ending with an "end" sentinel so lookahead never fails."""
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] == "'":
                raise _error("unterminated string", pos)
            raise _error(f"unexpected character {text[pos]!r}", pos)
        if match.lastgroup != "space":
            tokens.append(_Token(str(match.lastgroup), match.group(), pos))
        pos = match.end()
    return [*tokens, _Token("end", "", len(text))]


def _combine(kind: type[And | Or], items: list[Node]) -> Node:
    """Build an And/Or, absorbing children of the same kind (both are associative)."""
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


class _Parser:
    """Recursive descent; the depth argument bounds recursion on hostile input."""

    def __init__(self, tokens: list[_Token], max_nodes: int) -> None:
        self.tokens = tokens
        self.index = 0
        self.max_nodes = max_nodes
        self.nodes = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def accept(self, text: str) -> bool:
        """Consume the next token if it is this keyword (any case) or punctuation."""
        token = self.peek()
        if token.kind in ("word", "punct") and token.text.lower() == text:
            self.index += 1
            return True
        return False

    def close(self, context: str, expected: str = "')'") -> None:
        if not self.accept(")"):
            token = self.peek()
            if token.kind == "end":
                raise _error(f"unbalanced parentheses: missing ')'{context}", token.pos)
            raise _error(f"expected {expected}{context}, found {token.shown()}", token.pos)

    def expression(self, depth: int) -> Node:
        items = [self.conjunction(depth)]
        while self.accept("or"):
            items.append(self.conjunction(depth))
        return _combine(Or, items)

    def conjunction(self, depth: int) -> Node:
        items = [self.unary(depth)]
        while self.accept("and"):
            items.append(self.unary(depth))
        return _combine(And, items)

    def unary(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise _error(f"nesting deeper than {MAX_DEPTH} levels", self.peek().pos)
        if self.accept("not"):
            return Not(self.unary(depth + 1))
        if self.accept("("):
            node = self.expression(depth + 1)
            self.close("")
            return node
        return self.condition()

    def condition(self) -> Node:
        token = self.take()
        if token.kind == "end":
            raise _error("expected a condition, found end of input", token.pos)
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise _error(f"expected a field name, found {token.shown()}", token.pos)
        field = tuple(token.text.split("/"))
        op_token = self.take()
        if op_token.kind == "end":
            raise _error(f"missing operator after '{token.text}'", op_token.pos)
        op = op_token.text.lower() if op_token.kind == "word" else ""
        if op == "in":
            return self.count(In(field, self.in_values()), token.pos)
        if op_token.text == "(":  # OData's startswith(…), contains(…): "unknown operator '('" said nothing of it
            raise _error(
                f"no function {token.text!r}: compare a field with {', '.join(_CANONICAL)} or in (…)", token.pos
            )
        if op not in OPERATORS:
            raise _error(f"unknown operator {op_token.shown()}", op_token.pos)
        value_pos = self.peek().pos
        value = self.literal(op_token.text)
        if value is None and OPERATORS[op] not in ("eq", "ne"):
            problem = f"null can only be compared with eq or ne, not '{op}'"
            raise _error(problem, value_pos)
        return self.count(Comparison(field, OPERATORS[op], value), token.pos)

    def in_values(self) -> tuple[Value, ...]:
        token = self.take()
        if token.text != "(":
            raise _error(f"expected '(' after 'in', found {token.shown()}", token.pos)
        if self.peek().text == ")":
            raise _error("empty 'in' list", self.peek().pos)
        values = [self.literal("(")]
        while self.accept(","):
            values.append(self.literal(","))
        self.close(" in 'in' list", expected="',' or ')'")
        return tuple(values)

    def literal(self, after: str) -> Value:
        token = self.take()
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.kind == "date":
            return token.text
        if token.kind == "number":
            whole = token.text.lstrip("+-").isdigit()  # else a point or an exponent (`1.5e6`, OData's double)
            try:
                number = int(token.text) if whole else float(token.text)
            except ValueError:  # int() refuses thousands of digits
                raise _error("number is too long", token.pos) from None
            if not -(2**63) <= number < 2**63:  # what a database integer holds; also refuses an infinite float
                raise _error("number is out of range: within 64 bits, -2^63 to 2^63 - 1", token.pos)
            return number
        if token.kind == "word" and token.text.lower() in _LITERAL_WORDS:
            return _LITERAL_WORDS[token.text.lower()]
        problem = f"expected a value after '{after}', found {token.shown()}"
        raise _error(problem, token.pos)

    def count(self, node: Node, pos: int) -> Node:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            limit = f"more than {self.max_nodes} conditions"
            raise Invalid(f"$filter is too complex: {limit} at position {pos}")
        return node


def parse_filter(text: str, *, max_nodes: int = MAX_CONDITIONS, max_length: int = MAX_FILTER) -> Node:
    """Parse ``text`` into a Node; bad input raises ``Invalid`` and nothing else."""
    if len(text) > max_length:
        limit = f"more than {max_length} characters"
        raise Invalid(f"$filter is too long: {limit} at position {max_length}")
    tokens = _tokenize(text)
    if len(tokens) == 1:
        raise _error("empty expression", 0)
    parser = _Parser(tokens, max_nodes)
    node = parser.expression(0)
    leftover = parser.peek()
    if leftover.kind == "punct" and leftover.text == ")":
        raise _error("unbalanced parentheses: unexpected ')'", leftover.pos)
    if leftover.kind != "end":
        raise _error(f"unexpected {leftover.shown()}", leftover.pos)
    return node


def fields_of(node: Node) -> set[tuple[str, ...]]:
    """Every field path mentioned, so callers can check them against the model."""
    if isinstance(node, Comparison | In):
        return {node.field}
    if isinstance(node, Not):
        return fields_of(node.item)
    return set().union(*(fields_of(item) for item in node.items))


def pinned(node: Node) -> set[tuple[str, ...]]:
    """The fields `node` holds at one value in every record it matches: those of an `eq` (or an `in` of one value),
    alone or under its `and`s."""
    if isinstance(node, Comparison):
        return {node.field} if node.op == "eq" else set()
    if isinstance(node, In):
        return {node.field} if len(node.values) == 1 else set()
    if isinstance(node, And):
        return set().union(*(pinned(item) for item in node.items))
    return set()


def map_values(node: Node, fn: Callable[[tuple[str, ...], Value], Value]) -> Node:
    """Copy ``node`` with each literal replaced by ``fn(field, value)`` (coercion)."""
    if isinstance(node, Comparison):
        return replace(node, value=fn(node.field, node.value))
    if isinstance(node, In):
        return replace(node, values=tuple(fn(node.field, v) for v in node.values))
    if isinstance(node, Not):
        return Not(map_values(node.item, fn))
    return type(node)(tuple(map_values(item, fn) for item in node.items))


def joined(node: Node) -> Node:
    """`node` with the items of each `or` that compare one field for equality (`eq`, `in`) made one `in` of their
    values, where the first of them stood: `f eq 'a' or f eq 'b'` is `f in ('a', 'b')`, which a store reads from
    an index on the field, one lookup per value. SQLite makes an `IN` of or'ed `=` itself, but not of the `IS` that
    `eq` is on a record's own fields: `updated_at eq … or updated_at eq …` read the group's records."""
    if isinstance(node, Not):
        return Not(joined(node.item))
    if not isinstance(node, And | Or):
        return node
    items = [joined(item) for item in node.items]
    if isinstance(node, And):
        return And(tuple(items))
    same: dict[object, list[Node]] = {}
    for n, item in enumerate(items):
        equality = _equality(item)
        same.setdefault(n if equality is None else equality[0], []).append(item)
    return _combine(Or, [_one_in(group) for group in same.values()])


def _equality(node: Node) -> tuple[tuple[str, ...], tuple[Value, ...]] | None:
    """The field and values of a comparison for equality (`eq`, `in`); None for any other node."""
    if isinstance(node, Comparison) and node.op == "eq":
        return node.field, (node.value,)
    return (node.field, node.values) if isinstance(node, In) else None


def _one_in(items: list[Node]) -> Node:
    """The one `in` of equalities of one field (of one item, that item)."""
    if len(items) == 1:
        return items[0]
    equalities = [equality for item in items if (equality := _equality(item)) is not None]
    return In(equalities[0][0], tuple(value for _, values in equalities for value in values))
